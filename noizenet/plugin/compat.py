"""Plugin API versions: the one this noizenet speaks, what changed since the ones
before, and the checks a plugin passes when it loads (not deep in a run).

A plugin class may declare ``api_version = N`` (default: :data:`API_VERSION`). A
plugin that declares a newer API than this noizenet knows is refused; one that
still has members of API 1 is either adapted (with one deprecation warning naming
the plugin and the fix) or refused in one line that says what to write instead.

API history (CHANGELOG.md has the whole story):

* 1 (noizenet 0.1): ``OutputSpec(kind="categorical" | "continuous")``; the
  representation computed sample facts (``describe``, ``compare``) and heatmap
  labels (``token_labels``).
* 2 (noizenet 0.2): output kinds are objects (``Categorical()``, ``Continuous()``);
  facts about samples are metric plugins; heatmap labels come from
  ``Representation.step_labels``; ``Representation.prime`` primes with a whole file.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from noizenet.errors import PluginError
from noizenet.plugin.hookspecs import API_VERSION
from noizenet.plugin.kinds import Categorical, Continuous, OutputKind

log = logging.getLogger("noizenet")

__all__ = ["API_VERSION", "api_version", "check", "deprecated", "output_kind"]
GUIDE = "docs/writing-plugins.md, 'Plugin API versions and migrating from plugin API 1'"

# API 1 members that are gone and refused, with what replaces them
REMOVED = {
    "describe": "per-sample facts are a metric plugin's per_sample(sample, representation)",
    "compare": "set-level figures are a metric plugin's per_set(context), declared in its figures",
}
ADAPTED = {"token_labels": "step_labels"}  # old name -> new name, same signature
STRING_KINDS = {"categorical": Categorical, "tokens": Categorical, "continuous": Continuous, "frames": Continuous}
_warned: set[str] = set()


def api_version(plugin: Any) -> int:
    return int(getattr(plugin, "api_version", API_VERSION))


def check(kind: str, name: str, plugin: Any, origin: str) -> None:
    """Refuse, in one line, a plugin this noizenet cannot run; adapt what API 1 named
    otherwise. Called for every plugin when the registry loads it."""
    where = f"{kind} '{name}' ({origin})"
    declared = api_version(plugin)
    if declared > API_VERSION:
        raise PluginError(f"{where} is written for plugin API {declared}; this noizenet speaks API {API_VERSION}: "
                          "upgrade noizenet")
    if not inspect.isclass(plugin):
        return
    gone = [member for member in REMOVED if _defines(plugin, member)]
    if gone:
        how = "; ".join(f"{member}(): {REMOVED[member]}" for member in gone)
        raise PluginError(f"{where} defines {', '.join(m + '()' for m in gone)} of plugin API 1, which API "
                          f"{API_VERSION} no longer calls: {how} (see {GUIDE})")
    for old, new in ADAPTED.items():
        if _defines(plugin, old) and not _defines(plugin, new):
            setattr(plugin, new, getattr(plugin, old))
            deprecated(f"{where}: {old}() is plugin API 1; rename it {new}() (same arguments)")
    if inspect.isabstract(plugin):
        missing = ", ".join(sorted(plugin.__abstractmethods__))
        raise PluginError(f"{where} does not define {missing}, which every {kind} must (see docs/writing-plugins.md)")


def output_kind(kind: Any) -> OutputKind:
    """The output kind object for ``OutputSpec(kind=...)``; API 1's strings are adapted
    with a deprecation warning, anything else that is not an output kind is refused."""
    if isinstance(kind, OutputKind):
        return kind
    if not isinstance(kind, str) or kind not in STRING_KINDS:
        raise PluginError(f"OutputSpec(kind={kind!r}): an output kind is an object, e.g. Categorical() or "
                          f"Continuous() from noizenet.plugin.kinds (see {GUIDE})")
    replacement = STRING_KINDS[kind].__name__
    deprecated(f"OutputSpec(kind={kind!r}) is plugin API 1; write OutputSpec({replacement}(), ...) "
               f"with `from noizenet.plugin.kinds import {replacement}`")
    return STRING_KINDS[kind]()


def deprecated(message: str) -> None:
    """Log ``message`` once per process as a deprecation warning."""
    if message not in _warned:
        _warned.add(message)
        log.warning("deprecated: %s (see %s)", message, GUIDE)


def _defines(cls: type, member: str) -> bool:
    """Whether ``cls`` or a base of it, other than noizenet's own interfaces, defines ``member``."""
    return any(member in vars(base) for base in cls.__mro__ if not base.__module__.startswith("noizenet.plugin.interfaces"))

