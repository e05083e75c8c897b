"""noizenet: music generation with recurrent networks, built from plugins.

Plugins import what they use from :mod:`noizenet.api`; the folders below are the
core by role (docs/architecture.md).
"""

from noizenet import moved
from noizenet.plugin.hookspecs import hookimpl

moved.install()  # noizenet 0.2's import paths, each with a deprecation warning

__version__ = "0.2.0"
__all__ = ["hookimpl", "__version__"]
