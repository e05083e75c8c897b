"""ABC text: tidying tunes, splitting files into tunes, and reading them with
music21 (parsing, MIDI). Shared by the ``abc`` representation, its transposition,
its metrics and the ABC datasets."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from noizenet.api import deferred
from noizenet.plugins.abc.abcmidi import abc2midi
from noizenet.plugins.synthesis import quiet_music21

music21 = deferred("music21")

FIELD = re.compile(r"^([A-Za-z]):(.*)$")
FIELD_LETTERS = set("ABCDFGHIKLMmNOPQRrSsTUVWwXZ")
INLINE_COMMENT = re.compile(r"(?<!\\)%.*$")


def normalize_tune(text: str, drop_fields: str = "", drop_comments: bool = False, *,
                   header_only: bool = False) -> str | None:
    """One ABC tune with tidy lines, or None when it has no ``K:`` field or no body
    (a header alone is a tune when ``header_only``: a prime that the model continues)."""
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
    if in_header or (body_lines == 0 and not header_only):
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
    try:
        with quiet_music21():
            tune = with_unit_length(text if text.startswith("X:") else f"X:1\n{text}")
            score = music21.converter.parse(tune, format="abc")
    except Exception as error:  # music21 raises many kinds on broken ABC
        return None, f"music21 cannot parse it: {type(error).__name__}: {error}".splitlines()[0][:200]
    return score, None


def body(text: str) -> str:
    """The notes of a tune: what follows its K: line, without comments."""
    key = re.search(r"(?m)^K:.*$", text)
    return re.sub(r"%[^\n]*", "", text[key.end() + 1 :] if key else text)


@functools.lru_cache(maxsize=128)
def midi_bytes(text: str) -> tuple[bytes | None, str | None]:
    """(MIDI file bytes or None, why not) for one tune's ABC text.

    music21 refuses some scores it parsed (badly formed repeats, a repeated time
    signature); those are written again with their repeats played once, and as a
    plain sequence of notes if that fails too.
    """
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


def sample_midi(text: str) -> tuple[bytes | None, str | None]:
    """:func:`midi_bytes`, or where music21 cannot parse or write the tune, abc2midi's
    MIDI (it plays what it can read): every generated tune that has notes gets a
    ``.mid`` and a player. Training data keeps music21's alone."""
    midi, error = midi_bytes(text)
    if midi is not None or error == "no notes":
        return midi, error
    midi, why_not = abc2midi(text)
    return midi, None if midi is not None else f"{error}; {why_not}"


def _without_repeats(score: Any) -> Any:
    plain = copy.deepcopy(score)
    for repeat in list(plain.recurse().getElementsByClass(music21.bar.Repeat)):
        repeat.activeSite.replace(repeat, music21.bar.Barline("regular"))
    for expression in list(plain.recurse().getElementsByClass(music21.repeat.RepeatExpression)):
        expression.activeSite.remove(expression)
    return plain


def _notes_only(score: Any) -> Any:
    stream = music21.stream.Stream()
    for element in score.flatten().getElementsByClass((music21.note.GeneralNote, music21.tempo.MetronomeMark)):
        if not isinstance(element, music21.harmony.ChordSymbol):
            stream.insert(element.offset, copy.deepcopy(element))
    return stream
