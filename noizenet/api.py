"""The plugin contract: everything a plugin may import from noizenet, and nothing else.

Built-in plugins (``noizenet.plugins``, ``noizenet.datasets``) import from here and
from their own package, exactly as a third-party plugin does. ``__all__`` is the
public surface (a test holds it: a name is added on purpose and removed only with a
new :data:`API_VERSION`); everything else in noizenet may move between versions.
docs/writing-plugins.md explains each name.

    from noizenet.api import OutputSpec, Piece, Representation, hookimpl
"""

from noizenet.data.cache import cache_folder, cached_arrays
from noizenet.data.conditioning import correlation
from noizenet.data.pool import GaveUp, map_in_order
from noizenet.deferred import deferred
from noizenet.errors import ConfigError, DataError, NoizenetError
from noizenet.evaluate.plots import plot_distributions, plt, save_figure
from noizenet.plugin.figures import Figure
from noizenet.plugin.hookspecs import API_VERSION, hookimpl
from noizenet.plugin.interfaces import (
    Check,
    Dataset,
    EvaluationContext,
    Metric,
    MetricResult,
    ModelPlugin,
    OutputSpec,
    Piece,
    Prime,
    PrimeContext,
    Representation,
    Sample,
    SequenceModel,
    TokenRule,
)
from noizenet.plugin.kinds import Categorical, Continuous, Draw, OutputKind
from noizenet.plugin.kinds.categorical import ACCURACY_FIGURES, softmax_draw, swap_tokens
from noizenet.progress import progress_bar
from noizenet.runs.rundir import atomic_write_bytes, atomic_write_json, atomic_write_text, atomic_write_wav

__all__ = [
    # registering plugins
    "API_VERSION", "hookimpl",
    # what plugins implement, and what the core hands them
    "Check", "Dataset", "EvaluationContext", "Metric", "MetricResult", "ModelPlugin", "OutputSpec", "Piece", "Prime",
    "PrimeContext", "Representation", "Sample", "SequenceModel", "TokenRule",
    # output kinds: what one model step predicts
    "ACCURACY_FIGURES", "Categorical", "Continuous", "Draw", "OutputKind", "softmax_draw", "swap_tokens",
    # figures a metric declares
    "Figure",
    # errors a user is shown as one line
    "ConfigError", "DataError", "NoizenetError",
    # writing files (atomic: a temporary file, then os.replace)
    "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "atomic_write_wav",
    # plots, progress, work on all cores, the cache folder, deferred imports, a correlation
    "GaveUp", "cache_folder", "cached_arrays", "correlation", "deferred", "map_in_order", "plot_distributions", "plt",
    "progress_bar",
    "save_figure",
]
