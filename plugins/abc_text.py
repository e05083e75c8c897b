"""Representation ``abc``: ABC tunes as characters, one token per character.

A tune is encoded from a start token to an end token, as written in its file:
only line endings, trailing spaces and blank lines are normalised, so scores compare
with other character models of the same text. ``drop_fields`` and
``drop_comments`` strip what is not music (titles, sources, transcribers' notes)
for users who want the model to spend its capacity on notes alone.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noizenet import hookimpl
from noizenet.errors import DataError
from noizenet.interfaces import OutputSpec, Piece, PrimeContext, Representation
from noizenet.plugins.synthesis import quiet_music21, render_midi, renderer
from noizenet.rundir import atomic_write_bytes, atomic_write_text

START, END, UNK = "<start>", "<end>", "<unk>"
SPECIALS = (START, END, UNK)
FIELD = re.compile(r"^([A-Za-z]):(.*)$")
FIELD_LETTERS = set("ABCDFGHIKLMmNOPQRrSsTUVWwXZ")
INLINE_COMMENT = re.compile(r"(?<!\\)%.*$")
NOT_NOTES = re.compile(r'%[^\n]*|"[^"]*"|^[A-Za-z]:[^\n]*', re.MULTILINE)  # comments, strings, fields
MIN_NOTES = 8  # a generated tune is valid when music21 finds at least this many notes
STATISTICS_TUNES = 100  # training tunes parsed for the music statistics


@dataclass
class AbcConfig:
    drop_fields: str = ""  # field letters to remove, e.g. "TNZBS" (K: always stays)
    drop_comments: bool = False  # remove % comments and %% directives
    # Semitone shifts: each training tune is also learned transposed by these (down a
    # fourth, down a tone, up a tone, up a fourth), so melodies are learned in many keys.
    transpose: list[int] = field(default_factory=lambda: [-5, -2, 2, 5])


def normalize_tune(text: str, drop_fields: str = "", drop_comments: bool = False) -> str | None:
    """One ABC tune with tidy lines, or None when it has no ``K:`` field or no body."""
    drop = set(drop_fields) - {"K"}
    lines: list[str] = []
    in_header = True
    body_lines = 0
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        if drop_comments:
            if line.startswith("%"):
                continue
            line = INLINE_COMMENT.sub("", line).rstrip()
        if not line.strip():
            continue
        heading = FIELD.match(line)
        if heading and heading.group(1) in FIELD_LETTERS and not heading.group(2).startswith("|"):
            if heading.group(1) in drop:
                continue
            if heading.group(1) == "K" and in_header:
                in_header = False
                lines.append(line)
                continue
        elif not in_header and not line.startswith("%"):
            body_lines += 1
        lines.append(line)
    if in_header or body_lines == 0:
        return None
    return "\n".join(lines) + "\n"


def split_tunes(text: str) -> list[str]:
    """Split an ABC file into tunes on ``X:`` lines; text before the first is dropped."""
    return [f"X:{part}" for part in re.split(r"(?m)^X:", text)[1:]]


def with_unit_length(text: str) -> str:
    """``text`` with the ``L:`` field the ABC standard implies when a tune has none
    (1/16 for meters below 3/4, else 1/8), which music21 needs written out."""
    key = re.search(r"(?m)^K:", text)
    if key is None or re.search(r"(?m)^L:", text[: key.start()]):
        return text
    meter = re.search(r"(?m)^M:\s*(\d+)\s*/\s*(\d+)", text[: key.start()])
    unit = "1/16" if meter and int(meter.group(1)) / max(1, int(meter.group(2))) < 0.75 else "1/8"
    return f"{text[: key.start()]}L:{unit}\n{text[key.start():]}"


@functools.lru_cache(maxsize=128)
def parse_abc(text: str) -> tuple[Any, str | None]:
    """(music21 score or None, error message or None) for one tune's ABC text."""
    import music21

    try:
        with quiet_music21():
            tune = with_unit_length(text if text.startswith("X:") else f"X:1\n{text}")
            score = music21.converter.parse(tune, format="abc")
    except Exception as error:  # music21 raises many kinds on broken ABC
        return None, f"music21 cannot parse it: {type(error).__name__}: {error}".splitlines()[0][:200]
    return score, None


class AbcRepresentation(Representation):
    name = "abc"
    Config = AbcConfig
    default_dataset = "music21-abc"
    path_dataset = "abc-files"

    def __init__(self, config: AbcConfig) -> None:
        super().__init__(config)
        self.chars: list[str] = []
        self._index: dict[str, int] = {}

    # -- vocabulary ----------------------------------------------------------------
    @property
    def spec(self) -> OutputSpec:
        return OutputSpec("categorical", len(SPECIALS) + len(self.chars), start=0, stop=1)

    def fit(self, pieces: Sequence[Piece]) -> None:
        self._set_chars(sorted({c for piece in pieces for c in self.normalize(piece)}))

    def augment(self, pieces: Sequence[Piece]) -> list[Piece]:
        """Each piece transposed by every shift of ``config.transpose`` that fits its key."""
        from noizenet.plugins.abc_transpose import transpose_tune

        extra = []
        for piece in pieces:
            text = self.normalize(piece)
            for semitones in self.config.transpose:
                moved = transpose_tune(text, semitones) if semitones else None
                if moved is not None:
                    extra.append(Piece(f"{piece.id}~{semitones:+d}", moved, piece.meta))
        return extra

    def _set_chars(self, chars: list[str]) -> None:
        self.chars = chars
        self._index = {c: i + len(SPECIALS) for i, c in enumerate(chars)}

    def state_dict(self) -> dict[str, Any]:
        return {"chars": self.chars}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._set_chars(list(state["chars"]))

    # -- tensors -------------------------------------------------------------------
    def normalize(self, piece: Piece) -> str:
        if not isinstance(piece.data, str):
            raise DataError(f"representation 'abc' needs ABC text, but piece '{piece.id}' is {type(piece.data).__name__}")
        return normalize_tune(piece.data, self.config.drop_fields, self.config.drop_comments) or ""

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
        text = self.normalize(piece)
        key = re.search(r"(?m)^K:.*$", text)
        body = key.end() + 1 if key else 0
        cut = len(text)
        for bar in re.finditer(r"\|", text[body:]):
            music = NOT_NOTES.sub("", text[body : body + bar.start()])
            if len(re.findall(r"[A-Ga-g]", music)) >= 3:
                cut = body + bar.end()
                break
        return torch.tensor([0, *self._ids(text[:cut])], dtype=torch.long)

    def prime_from_signal(self, signal: np.ndarray, *, smooth: bool, context: PrimeContext) -> torch.Tensor:
        """Noise: random characters of the vocabulary (the signal's ranks pick them).
        A contour: a header taken from a held-out tune, then one note per value on
        the scale of that tune's key, the contour's peaks two octaves apart."""
        if not smooth:
            ranks = np.argsort(np.argsort(signal, kind="stable"), kind="stable")
            picks = (ranks * len(self.chars)) // max(1, len(signal))
            return torch.tensor([0, *(len(SPECIALS) + int(i) for i in picks)], dtype=torch.long)
        header = "X:1\nM:4/4\nL:1/8\nK:D\n"
        if context.held_out:
            tune = self.normalize(context.held_out[int(context.rng.integers(len(context.held_out)))])
            key = re.search(r"(?m)^K:.*$", tune)
            if key:
                header = "X:1\n" + "\n".join(re.findall(r"(?m)^[ML]:.*$", tune[: key.start()]) + [key.group()]) + "\n"
        return torch.tensor([0, *self._ids(header + contour_notes(signal, header))], dtype=torch.long)

    def token_labels(self, encoded: torch.Tensor) -> list[str]:
        labels = {0: "^", 1: "$", 2: "?"}
        return [labels.get(i) or repr(self.chars[i - 3])[1:-1] for i in encoded.tolist()]

    # -- files ---------------------------------------------------------------------
    def write(self, piece: Piece, path_stem: Path) -> list[Path]:
        """``.abc`` always; ``.mid`` (music21) and ``.wav`` when music21 can convert it."""
        path_stem = Path(path_stem)
        abc_path = Path(f"{path_stem}.abc")
        text = piece.data if piece.data.startswith("X:") else f"X:1\nT:{path_stem.name}\n{piece.data}"
        atomic_write_text(abc_path, text)
        midi, _ = midi_bytes(piece.data)
        if midi is None:
            return [abc_path]  # describe() says why
        midi_path = Path(f"{path_stem}.mid")
        atomic_write_bytes(midi_path, midi)
        return [abc_path, midi_path, render_midi(midi_path, Path(f"{path_stem}.wav"))]

    def compare(
        self, generated: Sequence[Piece], held_out: Sequence[Piece], *, training: Sequence[Piece], out_dir: Path
    ) -> dict[str, Any]:
        """Music statistics (MGEval) of the tunes that parse against a sample of the
        training tunes, and novelty of every tune against all training tunes."""
        from noizenet.plugins import abc_quality

        if not generated:
            return {}
        texts = [self.normalize(p) for p in training]
        result: dict[str, Any] = {"novelty": abc_quality.novelty([p.data for p in generated], texts)}
        for key in ("mean_longest_copied", "max_longest_copied", "share_8grams_in_training"):
            result[key] = result["novelty"][key]
        sample = np.random.default_rng(0).permutation(len(texts))[:STATISTICS_TUNES]
        scores = [s for s, _ in (parse_abc(p.data) for p in generated) if s is not None]
        reference = [s for s, _ in (parse_abc(texts[int(i)]) for i in sample) if s is not None]
        statistics = abc_quality.music_statistics(scores, reference)
        if statistics:
            result.update({k: v for k, v in statistics.items() if k != "histograms"})
            path = abc_quality.plot_statistics(statistics["histograms"], Path(out_dir) / "music_statistics.png")
            result["music_statistics"] = statistics["histograms"]
            result["plots"] = {"music_statistics": path.name}
        return result

    def describe(self, piece: Piece) -> dict[str, Any]:
        score, error = parse_abc(piece.data)
        notes = len(score.flatten().notes) if score is not None else 0
        if score is not None and notes < MIN_NOTES:
            error = f"only {notes} notes (a tune needs {MIN_NOTES})"
        facts = {"valid": error is None, "notes": notes, "chars": len(piece.data), "error": error}
        if score is not None and notes:
            midi, midi_error = midi_bytes(piece.data)
            facts["midi_error"] = midi_error
            if midi is not None:
                facts["renderer"] = renderer()
        return facts


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


@functools.lru_cache(maxsize=128)
def midi_bytes(text: str) -> tuple[bytes | None, str | None]:
    """(MIDI file bytes or None, why not) for one tune's ABC text.

    music21 refuses some scores it parsed (badly formed repeats, a repeated time
    signature); those are written again with their repeats played once, and as a
    plain sequence of notes if that fails too.
    """
    import music21

    score, error = parse_abc(text)
    if score is None:
        return None, error
    if not score.flatten().notes:
        return None, "no notes"
    attempts = (lambda: score, lambda: _without_repeats(score), lambda: _notes_only(score))
    for make in attempts:
        try:
            with quiet_music21():
                return music21.midi.translate.streamToMidiFile(make()).writestr(), None
        except Exception as failure:  # music21 raises many kinds here
            error = f"music21 cannot write MIDI: {type(failure).__name__}: {failure}".splitlines()[0][:200]
    return None, error


def _without_repeats(score: Any) -> Any:
    import copy

    import music21

    plain = copy.deepcopy(score)
    for repeat in list(plain.recurse().getElementsByClass(music21.bar.Repeat)):
        repeat.activeSite.replace(repeat, music21.bar.Barline("regular"))
    for expression in list(plain.recurse().getElementsByClass(music21.repeat.RepeatExpression)):
        expression.activeSite.remove(expression)
    return plain


def _notes_only(score: Any) -> Any:
    import copy

    import music21

    stream = music21.stream.Stream()
    for element in score.flatten().getElementsByClass((music21.note.GeneralNote, music21.tempo.MetronomeMark)):
        if not isinstance(element, music21.harmony.ChordSymbol):
            stream.insert(element.offset, copy.deepcopy(element))
    return stream


@hookimpl
def noizenet_representations():
    return [AbcRepresentation]
