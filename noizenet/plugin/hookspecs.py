"""Hook specifications: one hook per plugin kind, each returning what a plugin adds.

A plugin module implements any of these with ``@noizenet.hookimpl`` and is found
through an entry point in the ``noizenet`` group or with ``--plugins-dir``.
"""

import pluggy

API_VERSION = 2  # of the plugin interfaces (docs/writing-plugins.md, "Plugin API versions")
PROJECT = "noizenet"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def noizenet_representations():
    """Return a list of :class:`noizenet.plugin.interfaces.Representation` subclasses."""


@hookspec
def noizenet_models():
    """Return a list of :class:`noizenet.plugin.interfaces.ModelPlugin` (name, Config, build)."""


@hookspec
def noizenet_primes():
    """Return a list of :class:`noizenet.plugin.interfaces.Prime` subclasses."""


@hookspec
def noizenet_datasets():
    """Return a list of :class:`noizenet.plugin.interfaces.Dataset` subclasses."""


@hookspec
def noizenet_metrics():
    """Return a list of :class:`noizenet.plugin.interfaces.Metric` subclasses."""


@hookspec
def noizenet_checks():
    """Return a list of :class:`noizenet.plugin.interfaces.Check`: the programs and files the
    plugin uses when they are there (a renderer, an engraver), checked as the hook is
    called (by ``noizenet doctor``)."""
