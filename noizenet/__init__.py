"""noizenet: music generation with recurrent networks, built from plugins."""

from noizenet.hookspecs import hookimpl

__version__ = "0.2.0"
__all__ = ["hookimpl", "__version__"]
