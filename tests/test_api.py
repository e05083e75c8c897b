"""The plugin contract: what noizenet.api offers, that the built-in plugins use only
it, that the core has no import cycle, and that noizenet 0.2's import paths still
work with one deprecation warning each."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import noizenet
from noizenet import api, moved

PACKAGE = Path(noizenet.__file__).parent
PLUGIN_PACKAGES = ("noizenet.plugins", "noizenet.datasets")

# The public surface. A name is added here on purpose, with the guide; one removed is
# a new plugin API version (noizenet.api.API_VERSION) and a CHANGELOG entry.
PUBLIC = {
    "API_VERSION", "hookimpl",
    "Check", "Dataset", "EvaluationContext", "Metric", "MetricResult", "ModelPlugin", "OutputSpec", "Piece", "Prime",
    "PrimeContext", "Representation", "Sample", "SequenceModel", "TokenRule",
    "ACCURACY_FIGURES", "Categorical", "Continuous", "Draw", "OutputKind", "softmax_draw", "swap_tokens",
    "Figure", "ConfigError", "DataError", "NoizenetError",
    "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "atomic_write_wav",
    "GaveUp", "cache_folder", "cached_arrays", "correlation", "deferred", "map_in_order", "plot_distributions", "plt",
    "progress_bar",
    "save_figure",
}


def test_the_api_offers_exactly_its_public_names():
    assert set(api.__all__) == PUBLIC and len(api.__all__) == len(PUBLIC)
    assert all(getattr(api, name, None) is not None for name in api.__all__)


def imports_of(path: Path) -> list[str]:
    """The noizenet modules a file imports (``from X import y``: X, and X.y where that is a module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name == "noizenet" or name.startswith("noizenet.")]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


def test_built_in_plugins_import_only_the_api_and_their_own_packages():
    offenders = []
    for folder in ("plugins", "datasets"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            for name in imports_of(path):
                if name != "noizenet.api" and not name.startswith(PLUGIN_PACKAGES):
                    offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not offenders, offenders


def test_the_core_has_no_import_cycle_and_reaches_into_no_private_name():
    core = {module_name(p): p for p in PACKAGE.rglob("*.py")
            if not module_name(p).startswith(PLUGIN_PACKAGES) and p.name != "moved.py"}
    graph = {name: {m for m in imports_of(path) if m in core and m != name} for name, path in core.items()}
    for name, path in core.items():  # `from noizenet.x import y`, y a module: an edge to noizenet.x.y
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("noizenet"):
                graph[name] |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in core}
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                assert not private, f"{name} imports private names {private} from {node.module}"
    # a package's __init__ is imported with each of its modules: only cycles through real edges count
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1 and nxt != "noizenet":
                raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_old_import_paths_resolve_with_one_deprecation_warning_each():
    code = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import noizenet.interfaces as old
    from noizenet.kinds import Categorical
    import noizenet.kinds.categorical
    from noizenet import run
    from noizenet.rundir import atomic_write_text
import noizenet.plugin.interfaces as new, noizenet.plugin.kinds as kinds, noizenet.runs.pipeline as pipeline
assert old is new and Categorical is kinds.Categorical and run is pipeline
assert old.__spec__.name == "noizenet.plugin.interfaces"
moved = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning) and "moved to" in str(w.message)]
print(len(moved)); print("\\n".join(moved))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "5", out
    assert "noizenet.interfaces moved to noizenet.plugin.interfaces" in out[1] and "noizenet.api" in out[1]


def test_every_moved_path_names_a_module_that_exists():
    for old, new in moved.MOVED.items():
        assert not (PACKAGE / (old.replace(".", "/") + ".py")).exists(), old  # the old file is gone
        assert (PACKAGE / (new.replace(".", "/") + ".py")).exists() or (PACKAGE / new.replace(".", "/")).is_dir(), new
