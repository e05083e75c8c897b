"""A tune's files: what every piece of type ``abc`` is written as, by the ``abc``
representation and by any plugin whose pieces are ABC text.

``write_tune(text, path_stem)`` writes ``.abc`` always; ``.svg`` sheet music where
abcm2ps engraves it; ``.mid`` by music21, or by abc2midi where music21 cannot read
or convert the tune (so every tune with notes gets a player); and ``.wav`` from that
MIDI. The ``abc-validity`` metric says why a file is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from noizenet.api import Check, atomic_write_bytes, atomic_write_text
from noizenet.plugins.abc.engrave import engrave
from noizenet.plugins.abc.text import sample_midi
from noizenet.plugins.synthesis import render_midi, renderer_check


def write_tune(text: str, path_stem: Path) -> list[Path]:
    """Write the tune ``text`` (an ``X:`` line is added if it has none) as the files
    above, atomically; return the paths written."""
    path_stem = Path(path_stem)
    abc_path, svg_path = Path(f"{path_stem}.abc"), Path(f"{path_stem}.svg")
    tune = text if text.startswith("X:") else f"X:1\nT:{path_stem.name}\n{text}"
    atomic_write_text(abc_path, tune)
    written = [abc_path] + ([svg_path] if engrave(tune, svg_path) is None else [])
    midi, _ = sample_midi(text)
    if midi is None:
        return written
    midi_path = Path(f"{path_stem}.mid")
    atomic_write_bytes(midi_path, midi)
    return [*written, midi_path, render_midi(midi_path, Path(f"{path_stem}.wav"))]


def tool_checks() -> list[Check]:
    """The programs a tune's files come from, for ``noizenet doctor``."""
    engraver, abc2midi = shutil.which("abcm2ps"), shutil.which("abc2midi")
    return [
        Check("abcm2ps", engraver is not None, engraver or "not found (apt-get install abcm2ps)",
              "sheet music (.svg) of ABC samples in the report"),
        Check("abc2midi", abc2midi is not None, abc2midi or "not found (apt-get install abcmidi)",
              "a .mid and .wav of the ABC tunes music21 cannot convert (their players in the report)"),
        renderer_check(),
    ]
