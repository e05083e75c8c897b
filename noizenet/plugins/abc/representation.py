"""Representation ``abc``: ABC tunes as characters, one token per character.

A tune is encoded from a start token to an end token, as written in its file:
only line endings, trailing spaces and blank lines are normalised, so scores compare
with other character models of the same text. ``drop_fields`` and
``drop_comments`` strip what is not music (titles, sources, transcribers' notes)
for users who want the model to spend its capacity on notes alone. Generation
writes whole bars of the tune's meter (``whole_bars``, see bars.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noizenet.api import (
    Categorical, ConfigError, DataError, OutputSpec, Piece, PrimeContext, Representation, TokenRule, hookimpl,
    map_in_order,
)
from noizenet.plugins.abc.bars import WholeBars
from noizenet.plugins.abc.files import tool_checks, write_tune
from noizenet.plugins.abc.text import normalize_tune
from noizenet.plugins.abc.transpose import transpose_tune

START, END, UNK = "<start>", "<end>", "<unk>"
SPECIALS = (START, END, UNK)
STEERING_FORMS = {  # what --meter, --unit and --key accept, and how to say so
    "meter": (re.compile(r"\d{1,2}/\d{1,2}|C\|?"), "give a time signature such as 6/8, 4/4 or C"),
    "unit": (re.compile(r"1/\d{1,2}"), "give a note length such as 1/8 or 1/16"),
    "key": (re.compile(r"[A-G][#b]?(m|min|maj|mix|dor|phr|lyd|loc|aeo|ion)?", re.IGNORECASE),
            "give a tonic and mode such as D, Em, Ador or Gmix"),
}
log = logging.getLogger("noizenet")
NOT_NOTES = re.compile(r'%[^\n]*|"[^"]*"|^[A-Za-z]:[^\n]*', re.MULTILINE)  # comments, strings, fields


@dataclass
class AbcConfig:
    drop_fields: str = ""  # field letters to remove, e.g. "TNZBS" (K: always stays)
    drop_comments: bool = False  # remove % comments and %% directives
    # Semitone shifts: each training tune is also learned transposed by these (down a
    # fourth, down a tone, up a tone, up a fourth), so melodies are learned in many keys.
    transpose: list[int] = field(default_factory=lambda: [-5, -2, 2, 5])
    # Generation writes whole bars of the tune's meter: a bar line only where the bar
    # is full (the first may be a pickup), no note that overflows it (see bars.py).
    whole_bars: bool = True


class AbcRepresentation(Representation):
    name = "abc"
    Config = AbcConfig
    default_dataset = "music21-abc"
    path_dataset = "abc-files"
    piece_type = "abc"

    def __init__(self, config: AbcConfig) -> None:
        super().__init__(config)
        self.chars: list[str] = []
        self._index: dict[str, int] = {}

    # -- vocabulary ----------------------------------------------------------------
    @property
    def spec(self) -> OutputSpec:
        return OutputSpec(Categorical(), len(SPECIALS) + len(self.chars), start=0, stop=1)

    def fit(self, pieces: Sequence[Piece]) -> None:
        self._set_chars(sorted({c for piece in pieces for c in self.normalize(piece)}))

    def augment(self, pieces: Sequence[Piece]) -> list[Piece]:
        """Each piece transposed by every shift of ``config.transpose`` that fits its
        key, in order; the tunes are spread over processes (one a core)."""
        return [copy for _, copies, _ in map_in_order(pieces, self.transposed_copies) for copy in copies]

    def transposed_copies(self, piece: Piece) -> list[Piece]:
        """``piece`` moved by each non-zero shift of ``config.transpose`` that fits its key."""
        text = self.normalize(piece)
        copies = []
        for semitones in self.config.transpose:
            moved = transpose_tune(text, semitones) if semitones else None
            if moved is not None:
                copies.append(Piece(f"{piece.id}~{semitones:+d}", moved, piece.meta))
        return copies

    def _set_chars(self, chars: list[str]) -> None:
        self.chars = chars
        self._index = {c: i + len(SPECIALS) for i, c in enumerate(chars)}

    def state_dict(self) -> dict[str, Any]:
        return {"chars": self.chars}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._set_chars(list(state["chars"]))

    def token_rule(self) -> TokenRule | None:
        """Whole bars (``config.whole_bars``): see :mod:`noizenet.plugins.abc.bars`."""
        if not self.config.whole_bars:
            return None
        return WholeBars([None] * len(SPECIALS) + self.chars, end=SPECIALS.index(END))

    # -- tensors -------------------------------------------------------------------
    def normalize(self, piece: Piece) -> str:
        if not isinstance(piece.data, str):
            raise DataError(f"representation 'abc' needs ABC text, but piece '{piece.id}' is {type(piece.data).__name__}")
        return normalize_tune(piece.data, self.config.drop_fields, self.config.drop_comments, header_only=True) or ""

    def _ids(self, text: str) -> list[int]:
        unk = SPECIALS.index(UNK)
        return [self._index.get(c, unk) for c in text]

    def encode(self, piece: Piece) -> torch.Tensor:
        return torch.tensor([0, *self._ids(self.normalize(piece)), 1], dtype=torch.long)

    def decode(self, encoded: torch.Tensor, *, prime_steps: int = 0) -> Piece:
        text = "".join(self.chars[i - len(SPECIALS)] for i in encoded.tolist() if i >= len(SPECIALS))
        return Piece(id="generated", data=text)

    def opening(self, piece: Piece | None, *, seconds: float = 1.0) -> torch.Tensor:
        """Start token, then the header and the first full bar of ``piece``'s body
        (a pickup bar of fewer than three notes is taken with the bar after it)."""
        if piece is None:
            return torch.tensor([0], dtype=torch.long)
        return self.prime(piece, bars=1)

    def prime(self, piece: Piece, *, bars: int = 0, seconds: float = 0.0) -> torch.Tensor:
        """Start token, then the whole tune as written (the model continues after
        its last bar), or its header and first ``bars`` full bars."""
        text = self.normalize(piece)
        cut = after_bars(text, bars) if bars else len(text)
        unseen = sorted(set(text[:cut]) - set(self._index))
        if unseen:
            log.warning("the prime '%s' has characters this run never saw in training, left out: %s",
                        piece.id, " ".join(map(repr, unseen)))
        return torch.tensor([0, *self._ids(text[:cut])], dtype=torch.long)

    def steered_by(self) -> tuple[str, ...]:
        return tuple(STEERING_FORMS)

    def steered_opening(self, steering: dict[str, str]) -> torch.Tensor:
        """Start token, then ``X:1`` and the asked-for ``M:``, ``L:`` and ``K:`` lines
        (``K:`` ends an ABC header: the model writes the body after it)."""
        for key, value in steering.items():
            if not STEERING_FORMS[key][0].fullmatch(value):
                raise ConfigError(f"--{key} {value!r} is not an ABC {key}: {STEERING_FORMS[key][1]}")
        lines = ["X:1"] + [f"{field}:{steering[key]}" for key, field in (("meter", "M"), ("unit", "L"), ("key", "K"))
                            if key in steering]
        return torch.tensor([0, *self._ids("\n".join(lines) + "\n")], dtype=torch.long)

    def prime_from_signal(self, signal: np.ndarray, *, smooth: bool, context: PrimeContext) -> torch.Tensor:
        """Noise: random characters of the vocabulary (the signal's ranks pick them).
        A contour: a header taken from a held-out tune, then one note per value on
        the scale of that tune's key, the contour's peaks two octaves apart."""
        if not smooth:
            ranks = np.argsort(np.argsort(signal, kind="stable"), kind="stable")
            picks = (ranks * len(self.chars)) // max(1, len(signal))
            return torch.tensor([0, *(len(SPECIALS) + int(i) for i in picks)], dtype=torch.long)
        header = "X:1\nM:4/4\nL:1/8\nK:D\n"
        if context.openings:
            tune = self.decode(context.openings[int(context.rng.integers(len(context.openings)))]).data
            key = re.search(r"(?m)^K:.*$", tune)
            if key:
                header = "X:1\n" + "\n".join(re.findall(r"(?m)^[ML]:.*$", tune[: key.start()]) + [key.group()]) + "\n"
        return torch.tensor([0, *self._ids(header + contour_notes(signal, header))], dtype=torch.long)

    # -- files ---------------------------------------------------------------------
    def write(self, piece: Piece, path_stem: Path) -> list[Path]:
        """``.abc``, ``.svg`` sheet music, ``.mid`` and ``.wav`` where they can be made (files.py)."""
        return write_tune(piece.data, path_stem)


def after_bars(text: str, bars: int) -> int:
    """Where the ``bars``-th full bar of the tune's body ends (after its bar line);
    a pickup of fewer than three notes counts with the bar after it. The tune's end
    when it has fewer bars."""
    key = re.search(r"(?m)^K:.*$", text)
    body = key.end() + 1 if key else 0
    start, counted = body, 0
    for bar in re.finditer(r"\|[|\]]*:*", text[body:]):
        notes = len(re.findall(r"[A-Ga-g]", NOT_NOTES.sub("", text[start : body + bar.start()])))
        if notes >= (3 if counted == 0 else 1):
            counted, start = counted + 1, body + bar.end()
            if counted == bars:
                return start
    return len(text)


LETTERS = "C,D,E,F,G,A,B,CDEFGABcdefgabc'd'e'f'g'a'b'"
SCALE = [LETTERS[i : i + 2] if LETTERS[i + 1 : i + 2] in ",'" else LETTERS[i] for i in range(len(LETTERS)) if LETTERS[i] not in ",'"]


def contour_notes(contour: np.ndarray, header: str) -> str:
    """ABC notes, one unit note per value of ``contour`` (peak 1 or less), on the
    letters of the header's key from a tonic in the middle octave, with bar lines
    after each bar of the header's meter."""
    key = re.search(r"(?m)^K:\s*([A-Ga-g])", header)
    tonic = SCALE.index(key.group(1).upper()) if key else SCALE.index("D")
    peak = float(np.abs(contour).max()) or 1.0
    degrees = np.rint(contour / peak * 7).astype(int)
    meter = re.search(r"(?m)^M:\s*(\d+)\s*/\s*(\d+)", header)
    unit = re.search(r"(?m)^L:\s*1\s*/\s*(\d+)", header)
    per_bar = (int(meter.group(1)) * int(unit.group(1) if unit else 8)) // int(meter.group(2)) if meter else 8
    notes = [SCALE[min(max(tonic + d, 0), len(SCALE) - 1)] for d in degrees]
    bars = [notes[i : i + max(1, per_bar)] for i in range(0, len(notes), max(1, per_bar))]
    return "|".join("".join(bar) for bar in bars) + "|"


@hookimpl
def noizenet_representations():
    return [AbcRepresentation]


@hookimpl
def noizenet_checks():
    return tool_checks()
