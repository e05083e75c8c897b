"""Import paths of noizenet 0.2 that moved when the core was sorted into folders by
role: each still imports, as the module at its new path, with one
``DeprecationWarning`` naming that path. Plugins import :mod:`noizenet.api`.

Installed by ``noizenet/__init__.py`` as a finder on ``sys.meta_path``; it answers
only for the names in :data:`MOVED`, so nothing else is slowed or changed.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED = {  # old name -> new name, each under noizenet.
    "interfaces": "plugin.interfaces",
    "hookspecs": "plugin.hookspecs",
    "registry": "plugin.registry",
    "compat": "plugin.compat",
    "kinds": "plugin.kinds",
    "kinds.base": "plugin.kinds.base",
    "kinds.categorical": "plugin.kinds.categorical",
    "kinds.continuous": "plugin.kinds.continuous",
    "figures": "plugin.figures",
    "prepared": "data.prepared",
    "splits": "data.splits",
    "pool": "data.pool",
    "conditioning": "data.conditioning",
    "cache": "data.cache",
    "trainer": "train.trainer",
    "windows": "train.windows",
    "scoring": "train.scoring",
    "distributed": "train.distributed",
    "device": "train.device",
    "tensorboard": "train.tensorboard",
    "generator": "generate.generator",
    "stand_ins": "generate.stand_ins",
    "evaluator": "evaluate.evaluator",
    "report": "evaluate.report",
    "plots": "evaluate.plots",
    "compare": "evaluate.compare",
    "document": "evaluate.document",
    "rundir": "runs.rundir",
    "run": "runs.pipeline",
    "pretrained": "runs.pretrained",
    "server": "serve.server",
    "composer": "serve.composer",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``noizenet.OLD`` as the module ``noizenet.NEW`` (see :data:`MOVED`)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("noizenet.") or fullname.removeprefix("noizenet.") not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = "noizenet." + MOVED[spec.name.removeprefix("noizenet.")]
        warnings.warn(f"{spec.name} moved to {new}; plugins import what they use from noizenet.api "
                      "(docs/writing-plugins.md, migrating)", DeprecationWarning, stacklevel=2)
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__  # the import system sets __spec__ to the old name's: put it back
        return module

    def exec_module(self, module: ModuleType) -> None:
        """The module at the new path has run already; only its own spec goes back."""
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    """Put the finder first, before the path finder could load a moved package's
    modules a second time under the old name."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModules())
