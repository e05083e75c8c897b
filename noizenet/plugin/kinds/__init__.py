"""Output kinds: what one model step predicts, and everything that follows from it.

A representation's :class:`~noizenet.plugin.interfaces.OutputSpec` carries one of these
objects; the trainer, the generator and held-out scoring ask it for the loss,
accuracy, sampling and units, and never compare names. A representation may bring
its own kind (a subclass of :class:`OutputKind`), as ``pianoroll`` does with
``noizenet.plugins.midi.multilabel`` and ``nade``.
"""

from noizenet.plugin.kinds.base import Draw, OutputKind
from noizenet.plugin.kinds.categorical import Categorical
from noizenet.plugin.kinds.continuous import Continuous

__all__ = ["Categorical", "Continuous", "Draw", "OutputKind"]
