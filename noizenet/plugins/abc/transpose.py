"""Transposition of ABC tunes, used to augment the training data of ``abc``.

A shift of ``semitones`` moves every note by the matching number of letter steps
(a fourth up is 5 semitones and 3 letters), rewrites ``K:`` fields for the new
tonic in the same mode, and re-spells explicit accidentals so each note keeps its
interval to the tonic. Chord symbols in quotes move too. Tunes whose key cannot be
moved (``K:HP``, ``K:none``, explicit key accidentals, keys past 7 sharps or
flats) give None.
"""

from __future__ import annotations

import re

from noizenet.plugins.abc.text import FIELD, FIELD_LETTERS

LETTERS = "CDEFGAB"
NATURAL = (0, 2, 4, 5, 7, 9, 11)  # semitones of C D E F G A B above C
ACCIDENTAL_SEMITONES = {"^^": 2, "^": 1, "=": 0, "_": -1, "__": -2}
SPELLING = {2: "^^", 1: "^", 0: "=", -1: "_", -2: "__"}

# Body tokens, in the order they are tried: comments, strings (chord symbols and
# annotations), decorations, inline fields, notes.
BODY_TOKEN = re.compile(
    r"(?P<comment>%.*$)"
    r'|(?P<string>"[^"\n]*")'
    r"|(?P<decoration>![^!\n]*!|\+[^+\n]*\+)"
    r"|\[(?P<field>[A-Za-z]):(?P<value>[^\]\n]*)\]"
    r"|(?P<accidental>\^\^|\^|__|_|=)?(?P<letter>[A-Ga-g])(?P<octave>[',]*)",
    re.MULTILINE,
)
MODE_FIFTHS = {"maj": 0, "ion": 0, "lyd": 1, "mix": -1, "dor": -2, "min": -3, "aeo": -3, "phr": -4, "loc": -5}
KEY = re.compile(r"^(\s*)([A-G])([#b]?)(.*)$")
CHORD = re.compile(r'^"([A-G])([#b]?)([^"/]*)(?:/([A-G])([#b]?))?"$')


def letter_steps(semitones: int) -> int:
    """Letter steps that spell a shift of ``semitones`` (5 -> 3: a fourth)."""
    return round(semitones * 7 / 12)


def transpose_tune(text: str, semitones: int) -> str | None:
    """``text`` (one normalised tune) moved by ``semitones``, or None if it cannot be."""
    steps = letter_steps(semitones)
    lines = []
    in_header = True
    for line in text.split("\n"):
        field = FIELD.match(line)
        if field and field.group(1) in FIELD_LETTERS and not field.group(2).startswith("|"):
            if field.group(1) == "K":
                in_header = False
                key = _move_key(field.group(2), semitones, steps)
                if key is None:
                    return None
                line = f"K:{key}"
            lines.append(line)
            continue
        if in_header:
            lines.append(line)
            continue
        moved = _move_body(line, semitones, steps)
        if moved is None:
            return None
        lines.append(moved)
    return "\n".join(lines)


def _move_name(letter: str, accidental: str, semitones: int, steps: int, *, symbols: str) -> str | None:
    """A pitch name (``letter`` + ``#``/``b``) moved; None past one sharp or flat."""
    index = LETTERS.index(letter)
    alter = {"#": 1, "b": -1, "": 0}[accidental]
    new_index = (index + steps) % 7
    new_alter = (NATURAL[index] + alter + semitones - NATURAL[new_index] + 6) % 12 - 6
    if abs(new_alter) > 1:
        return None
    return LETTERS[new_index] + {1: symbols[0], -1: symbols[1], 0: ""}[new_alter]


def _move_key(value: str, semitones: int, steps: int) -> str | None:
    match = KEY.match(value)
    if not match or re.search(r"exp|[_=^]", match.group(4)):
        return None
    name = _move_name(match.group(2), match.group(3), semitones, steps, symbols="#b")
    if name is None or abs(_fifths(name, match.group(4))) > 7:
        return None
    return f"{match.group(1)}{name}{match.group(4)}"


def _fifths(tonic: str, mode_text: str) -> int:
    """Sharps (+) or flats (-) of the key signature of ``tonic`` in the mode named
    at the start of ``mode_text`` (``m``, ``min``, ``dor``, ``mix``, ...; major if none)."""
    letter_fifths = (0, 2, 4, -1, 1, 3, 5)[LETTERS.index(tonic[0])]
    alter = {"#": 1, "b": -1}.get(tonic[1:], 0)
    word = re.match(r"\s*([A-Za-z]*)", mode_text).group(1).lower()
    mode = -3 if word == "m" else MODE_FIFTHS.get(word[:3], 0)
    return letter_fifths + 7 * alter + mode


def _move_body(line: str, semitones: int, steps: int) -> str | None:
    failed = False

    def move(token: re.Match) -> str:
        nonlocal failed
        if token.group("comment") or token.group("decoration"):
            return token.group(0)
        if token.group("string"):
            return _move_chord(token.group("string"), semitones, steps)
        if token.group("field"):
            if token.group("field") != "K":
                return token.group(0)
            key = _move_key(token.group("value"), semitones, steps)
            failed = failed or key is None
            return f"[K:{key}]"
        note = _move_note(token.group("accidental"), token.group("letter"), token.group("octave"), semitones, steps)
        failed = failed or note is None
        return note or ""

    moved = BODY_TOKEN.sub(move, line)
    return None if failed else moved


def _move_note(accidental: str | None, letter: str, marks: str, semitones: int, steps: int) -> str | None:
    index = LETTERS.index(letter.upper())
    octave = (1 if letter.islower() else 0) + marks.count("'") - marks.count(",")
    position = octave * 7 + index + steps
    new_octave, new_index = divmod(position, 7)
    new_letter = LETTERS[new_index]
    spelled = new_letter.lower() + "'" * (new_octave - 1) if new_octave >= 1 else new_letter + "," * (-new_octave)
    if accidental is None:
        return spelled
    pitch = NATURAL[index] + ACCIDENTAL_SEMITONES[accidental] + semitones
    alter = (pitch - NATURAL[new_index] + 6) % 12 - 6
    if abs(alter) > 2:
        return None
    return SPELLING[alter] + spelled


def _move_chord(string: str, semitones: int, steps: int) -> str:
    """A chord symbol such as ``"F#m7/C#"`` moved; other strings unchanged."""
    match = CHORD.match(string)
    if not match:
        return string
    root = _move_name(match.group(1), match.group(2), semitones, steps, symbols="#b")
    if root is None:
        return string
    bass = ""
    if match.group(4):
        moved_bass = _move_name(match.group(4), match.group(5), semitones, steps, symbols="#b")
        if moved_bass is None:
            return string
        bass = "/" + moved_bass
    return f'"{root}{match.group(3)}{bass}"'
