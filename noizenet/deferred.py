"""Modules imported when first used, so that a command that never needs them does
not wait for them: music21, numba, matplotlib's pyplot and scipy's linear algebra
cost a warm ``noizenet train`` on ABC about a second of start-up before its first
step (``python -X importtime``), and it uses none of them.

    music21 = deferred("music21")      # at module level, where ``import music21`` was
    music21.converter.parse(...)       # imports music21 here, once

``from module import name`` loads at once; write ``module.name`` at the point of use
instead. A long-lived process (``noizenet serve``) calls :func:`import_all` before
it answers, so that its first request does not wait for them either.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

MODULES: list[DeferredModule] = []  # every deferred module made, for import_all


class DeferredModule:
    """Stands for the module ``name`` until an attribute is read; then imports it
    (``importlib.import_module``, which serializes concurrent imports) and forwards."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._imported(), attribute)

    def _imported(self) -> ModuleType:
        """The module, imported now if it was not yet (private: a module's own
        attribute of any public name must reach it)."""
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<deferred module {self._name!r}, {state}>"


def deferred(name: str) -> Any:
    """A :class:`DeferredModule` for ``name`` (typed ``Any``: use it as the module)."""
    module = DeferredModule(name)
    MODULES.append(module)
    return module


def import_all() -> None:
    """Import every deferred module now."""
    for module in list(MODULES):
        module._imported()
