"""The plugin registry: a pluggy manager, and lookup of plugins by kind and name."""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from noizenet.plugin import compat, hookspecs
from noizenet.errors import PluginError
from noizenet.plugin.interfaces import Check, Dataset, Metric, Prime, Representation, SequenceModel

# kind -> hook that returns that kind's plugins
KINDS = {
    "representation": "noizenet_representations",
    "model": "noizenet_models",
    "prime": "noizenet_primes",
    "dataset": "noizenet_datasets",
    "metric": "noizenet_metrics",
}


def get_plugin_manager(plugins_dirs: Iterable[Path] = ()) -> pluggy.PluginManager:
    """A fresh manager with entry-point plugins and every module of ``plugins_dirs``."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    for folder in plugins_dirs:
        for module in load_folder(Path(folder)):
            pm.register(module, name=f"{folder}/{Path(module.__file__).name}")
    return pm


def load_folder(folder: Path) -> list[Any]:
    """Import every ``*.py`` module in ``folder`` (not as a package)."""
    if not folder.is_dir():
        raise PluginError(f"--plugins-dir {folder}: not a folder")
    modules = []
    for path in sorted(folder.glob("*.py")):
        name = f"noizenet_local_plugin_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise PluginError(f"plugin {path} failed to load: {error!r}") from error
        modules.append(module)
    return modules


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    plugin: Any
    origin: str


class Registry:
    """Every plugin by kind and name, with where each came from."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        distinfo = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        for kind, hook_name in KINDS.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():
                origin = _origin(impl, distinfo.get(id(impl.plugin)))
                for plugin in impl.function() or []:
                    compat.check(kind, plugin.name, plugin, origin)
                    self._add(Entry(kind, plugin.name, plugin, origin))

    def _add(self, entry: Entry) -> None:
        known = self._entries[entry.kind]
        if entry.name in known:
            raise PluginError(
                f"two {entry.kind} plugins named '{entry.name}': "
                f"{known[entry.name].origin} and {entry.origin}"
            )
        known[entry.name] = entry

    def get(self, kind: str, name: str) -> Any:
        """The plugin of ``kind`` called ``name``, or a one-line error with the closest."""
        known = self._entries[kind]
        if name in known:
            if kind == "representation":
                _check_keywords(known[name])
            return known[name].plugin
        names = sorted(known)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise PluginError(f"unknown {kind} '{name}' (known: {', '.join(names) or 'none'}){hint}")

    def entries(self, kind: str | None = None) -> list[Entry]:
        kinds = [kind] if kind else list(KINDS)
        return [entry for k in kinds for entry in sorted(self._entries[k].values(), key=lambda e: e.name)]

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def checks(self) -> list[Check]:
        """Every plugin's :class:`Check`, each name once, in the order the plugins give them."""
        found: dict[str, Check] = {}
        for checks in reversed(self._pm.hook.noizenet_checks()):  # pluggy calls the last registered first
            for check in checks or []:
                found.setdefault(check.name, check)
        return list(found.values())

    def metrics_for(self, representation: Any) -> list[Any]:
        """An instance of every metric that applies to ``representation``, by name."""
        metrics = (entry.plugin() for entry in self.entries("metric"))
        return [metric for metric in metrics if metric.applies_to(representation)]


# Keywords the core passes to representation methods (see noizenet/plugin/interfaces.py).
KEYWORDS = {"decode": ("prime_steps",), "opening": ("seconds",)}


def _check_keywords(entry: Entry) -> None:
    """One clear line, instead of a TypeError mid-run, for a representation whose
    methods do not take the keywords the core passes them."""
    for method, names in KEYWORDS.items():
        parameters = inspect.signature(getattr(entry.plugin, method)).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            continue
        missing = [n for n in names if n not in parameters]
        if missing:
            raise PluginError(
                f"representation '{entry.name}' ({entry.origin}): {method}() must accept the keyword "
                f"argument(s) {', '.join(missing)} (see docs/writing-plugins.md)"
            )


def _origin(impl: Any, dist: Any) -> str:
    if dist is not None:
        return f"{dist.metadata['name']} {dist.version} (entry point '{impl.plugin_name}')"
    module_file = getattr(impl.plugin, "__file__", None)
    return f"{module_file}" if module_file else impl.plugin_name


PLUGIN_BASES = {"representation": Representation, "dataset": Dataset, "metric": Metric, "prime": Prime,
                "model": SequenceModel}


def plugin_at_fault(error: BaseException) -> str | None:
    """"representation 'words' (its file) failed in encode()" when ``error`` was raised
    inside a method of a plugin that is not noizenet's own (the outermost such
    method: the one the core called); None when no such plugin is on the traceback."""
    trace = error.__traceback__
    while trace is not None:
        instance = trace.tb_frame.f_locals.get("self")
        cls = type(instance)
        if not cls.__module__.startswith("noizenet."):
            for kind, base in PLUGIN_BASES.items():
                if isinstance(instance, base):
                    name = getattr(cls, "name", cls.__name__)
                    return f"{kind} '{name}' ({trace.tb_frame.f_code.co_filename}) failed in {trace.tb_frame.f_code.co_name}()"
        trace = trace.tb_next
    return None


def load_registry(plugins_dirs: Iterable[Path] = ()) -> Registry:
    return Registry(get_plugin_manager(plugins_dirs))
