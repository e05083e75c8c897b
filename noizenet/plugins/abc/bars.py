"""Whole bars: a token rule that keeps generated ABC in its meter.

A character model learns that a bar line comes "after about so many notes", and
after minutes of training it writes bars a note too long or too short (music21 then
reads a 6/8 jig as bars of 5/8 and 7/8). :class:`BarClock` reads a tune as it is
written, one character at a time, and counts the bar so far in ``L:`` units (notes,
rests, chords, tuplets, broken rhythms; grace notes, chord symbols, decorations and
comments take no time). A character breaks the rule when it is

- a bar line before the bar is full; a bar may be short only where it opens the
  tune or a section (a pickup, not followed by a section end) or closes a section
  of at least ``MIN_SECTION_BARS`` bars as the pickup's complement; no empty bar
  except where a line starts; a bar line is one of ABC's (``|``, ``||``, ``:|``, ...);
- a note or rest where the bar is already full, or anything but a bar line (one
  blank, ``\\``, ``-`` or ``)`` before it) after a full bar;
- a length (``2``, ``/``, ``3/2``) that makes a note overflow the bar, unless it
  shortens a note that overflows (a note begun with less than a unit left must be
  shortened before anything else may follow); anything else while a note overflows;
- a note length that leaves the bar off a grid of quarter units (outside tuplets),
  so that the rest of the bar can always be filled;
- a field line in the body but lyrics, words, parts and titles (no ``M:``, ``L:``,
  ``K:``, nor ``[M:3/4]``: a tune keeps what its header or ``--meter``, ``--key``
  state), or the end of the tune before ``MIN_TUNE_BARS`` full bars;
- a letter that is neither a note nor one of ABC's decorations (nor H, after which
  music21 drops a note), except the letter of a field line (``w:``);
- inside a chord ``[...]``, anything but notes; after ``[`` and a letter, anything
  but the ``:`` of an inline field; a ``]`` or ``}`` that closes nothing;
- inside ``"..."``, anything but a chord symbol music21 reads (``"Am7/E"``), one
  digit (a fingering) or an annotation (``"^Segno"``);
- in the header, an ``X:``, ``M:``, ``L:``, ``Q:`` or ``K:`` value music21 cannot
  read (``X: H82``, ``L:Jollin``), a second of those fields but ``K:`` (which ends
  the header), a line that is neither a field nor a comment,
  ``K:`` before an ``M:``, a line but ``K:`` after ``MAX_HEADER_LINES``, a line longer
  than ``MAX_HEADER_LINE``, or the end of the tune (it needs a body);
- a second blank (or backtick) in a row: a model that wants a bar line must not pad;
  a second tie (``--``).

:class:`WholeBars` asks the clock which tokens may come next. A body whose tune
states no meter (a prime without ``M:``, or ``M:none``) is not constrained.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from noizenet.api import TokenRule

PITCHES = frozenset("ABCDEFGabcdefgzx")  # letters of notes and rests that take time
NOTE_NAMES = frozenset("ABCDEFGabcdefg")
CHORD_NOTES = 4  # notes in a chord at most
CHORD_QUALITIES = ("", "m", "7", "m7", "maj7", "dim", "dim7", "aug", "+", "6", "m6", "9", "sus", "sus2", "sus4", "add9")
MAX_HEADER_LINES = 12  # lines before K: must end the header
MAX_HEADER_LINE = 120  # characters
HEADER_VALUES = {  # field: (a whole value, the beginning of one)
    "X:": (re.compile(r" ?\d+"), re.compile(r" ?\d*")),
    "M:": (re.compile(r" ?(C\|?|[1-9]\d?/[1-9]\d?|none)"), re.compile(r" ?(C\|?|[1-9]\d?(/([1-9]\d?)?)?|n(o(ne?)?)?)?")),
    "L:": (re.compile(r" ?1/[1-9]\d?"), re.compile(r" ?(1(/([1-9]\d?)?)?)?")),
    "Q:": (re.compile(r" ?(\d+/\d+=\d+|\d+)"), re.compile(r" ?(\d*(/\d*(=\d*)?)?)?")),
    "K:": (re.compile(r" ?[A-G][#b]? ?[A-Za-z]*"), re.compile(r" ?([A-G][#b]? ?[A-Za-z]*)?")),
}
ANNOTATIONS = frozenset("^_<>@")  # the first character of a quoted annotation
ANNOTATION_CHARS = 24
LENGTH_FORM = re.compile(r"([1-9]\d?)?(/{1,3}|/[1-9]\d?)?")  # what a length may be: 3, 3/2, /4, //, ... (no 0)
ACCIDENTALS = frozenset("^_=")
OCTAVES = frozenset(",'")
LENGTH = frozenset("0123456789/")
BAR_RESTS = frozenset("ZX")  # a rest of a whole bar
HEADER_KEPT = frozenset("MLK")  # fields the body may not change: the meter, unit and key stay the header's
BODY_FIELDS = frozenset("wWPT")  # field lines a generated body may hold: lyrics, words, parts, titles
MIN_TUNE_BARS = 4  # full bars before a tune may end
DECORATIONS = frozenset("LMOPSTuv")  # ABC's decoration letters but H (music21 drops the note after it)
TEXT_CLOSERS = {'"': '"', "!": "!", "{": "}", "%": "\n", "+": "+"}  # chord symbols, decorations, grace notes, comments
FIELD_LINE = re.compile(r"([A-Za-z]):(.*)")
METER = re.compile(r"\s*(\d+(?:\+\d+)*)\s*/\s*(\d+)")
UNIT = re.compile(r"\s*(\d+)\s*/\s*(\d+)")
BAR_LINES = frozenset({"|", "||", "|]", "[|", "|:", ":|", "::", ":|:", ":||", "||:", ":||:", "|::", "::|", ":|]"})
MIN_SECTION_BARS = 8  # full bars before a section may end (folk sections have 8)
BAR_LINE_STARTS = frozenset(line[:i] for line in BAR_LINES for i in range(1, len(line) + 1))
TICKS = 2**8 * 9 * 5 * 7  # per unit (L:): exact for lengths down to /256, tuplets up to 9, broken rhythms
GRID = TICKS // 4  # a bar always has room for a whole number of these
AT_FULL_BAR = frozenset(" \\-)")  # what may stand between a full bar and its bar line (once each)
NEVER_TWICE = frozenset(" `-")  # in a row: a model that wants a bar line must not pad; one tie is a tie
SPECIAL = frozenset(PITCHES | ACCIDENTALS | OCTAVES | LENGTH | BAR_RESTS | AT_FULL_BAR | NEVER_TWICE | HEADER_KEPT
                    | BODY_FIELDS | set(TEXT_CLOSERS) | set(TEXT_CLOSERS.values())
                    | set("|:[]()<>\n\t"))  # characters that behave as no other; the rest: one class per kind
MASKS_KEPT = 100_000  # masks remembered per vocabulary (generation revisits the same states)
TUPLET_SPANS = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}  # (p: p notes in the time of q; 5, 7, 9: 3 in compound meter, else 2


@functools.lru_cache(maxsize=4096)
def note_length(text: str) -> Fraction:
    """The multiple of the unit length an ABC length suffix states: "" 1, "2" 2,
    "/" 1/2, "//" 1/4, "3/2" 3/2, "3/" 3/2, "/4" 1/4."""
    numerator, slash, rest = text.partition("/")
    length = Fraction(int(numerator) if numerator else 1)
    if not slash:
        return length
    denominator = rest.rstrip("/")
    if denominator.isdigit() and int(denominator):
        return length / int(denominator) / 2 ** (len(rest) - len(denominator))
    return length / 2 ** (1 + rest.count("/"))


def meter_length(meter: str) -> Fraction | None:
    """The length of one bar of ``meter`` in whole notes (C = 4/4, C| = 2/2,
    2+3/8 = 5/8), or None for free meter and what is not a meter."""
    meter = {"C": "4/4", "C|": "2/2"}.get(meter.strip(), meter)
    found = METER.match(meter)
    if not found or not int(found.group(2)):
        return None
    return Fraction(sum(int(n) for n in found.group(1).split("+")), int(found.group(2))) or None


@dataclass(frozen=True)
class Note:
    """The last note (or chord) of a bar, whose length may still be written."""

    factor: Fraction  # a tuplet's factor
    rhythm: Fraction = Fraction(1)  # a broken rhythm's factor (A>B: 3/2 and 1/2)
    length: str = ""  # its length characters so far
    chord_length: str = ""  # a chord's length after its "]"

    @functools.cached_property
    def ticks(self) -> int:
        return round(self.factor * self.rhythm * note_length(self.length) * note_length(self.chord_length) * TICKS)


class BarClock:
    """One tune as it is written: its header, then its body bar by bar.

    ``mode``: header; body; field (a field line in the body); text (inside a chord
    symbol, decoration, grace notes, comment or inline field, until ``closer``);
    bracket (just after ``[``); chord; done. ``broke`` turns True at the first
    character that breaks the rule (see the module).
    """

    def __init__(self) -> None:
        self.mode = "header"
        self.closer = ""
        self.text = ""  # what text mode has read (an inline field)
        self.meter: Fraction | None = None  # whole notes a bar
        self.unit: Fraction | None = None  # L: in whole notes
        self.bar: int | None = None  # ticks in a full bar; None where the meter is free
        self.filled = 0  # ticks of the bar before the last note
        self.note: Note | None = None
        self.head = False  # an accidental waits for its letter
        self.accidental = ""  # that accidental so far (^, ^^, ...)
        self.member_length = ""  # the length of a chord's later note
        self.lengthening = False  # the last note's length characters may follow
        self.chord_notes = 0  # letters read in the open chord
        self.run = ""  # the bar line being read ("|", ":|", "||", ...)
        self.section_start = True  # the bar opens the tune or a section: it may be short
        self.pickup = 0  # ticks of the last short bar that opened a section
        self.section_bars = 0  # full bars since the section began (or an ending's)
        self.tune_bars = 0  # full bars of the whole tune
        self.closes_music = False  # the bar line being read ends a bar with music in it
        self.next_in = ""  # the next character must be one of these (when not empty)
        self.next_not_in = ""  # ... or must not be one of these
        self.line = ""  # a field line so far (header and field modes)
        self.header_lines = 0  # header lines read
        self.stated = ""  # the header's X:, M:, L:, Q: fields so far (each is stated once)
        self.line_chars = 0  # characters of the body line so far, counted up to 3
        self.line_first = ""  # its first character
        self.blank_line = True  # the body line so far is blank
        self.blank_before = True  # ... it was, before the last character
        self.last = self.previous = ""  # the last character of the body line, and the one before
        self.line_start: BarClock | None = None  # the state where the body line began
        self.tuplet = (Fraction(1), 0)  # factor, notes it still takes
        self.tuplet_spec = ""  # "(3", "(3:2", ... being read
        self.dots = 0  # > or < in a row
        self.next_rhythm = Fraction(1)  # the broken rhythm's factor of the next note
        self.broke = False

    def _set_bar(self) -> None:
        """Ticks in a full bar, or None where the meter is free."""
        if self.meter is None:
            self.bar = None
            return
        unit = self.unit or (Fraction(1, 16) if self.meter < Fraction(3, 4) else Fraction(1, 8))
        self.bar = round(self.meter / unit * TICKS)

    @property
    def ticks(self) -> int:
        """Ticks of the bar written so far, the last note included."""
        return self.filled + (self.note.ticks if self.note else 0)

    @property
    def constrained(self) -> bool:
        """Whether the rule applies here: a meter, music being written, and a bar not
        already broken (an overfull bar in a prime is left to end as it will)."""
        bar = self.bar
        return bar is not None and self.mode in ("body", "bracket", "chord") and self.filled <= bar

    def state(self) -> tuple:
        """What decides which characters may come next, hashable: two clocks with
        one state allow the same characters."""
        return (self.mode, self.closer, self.meter, self.bar, self.filled, self.note, self.head, self.lengthening,
                self.chord_notes, self.run, self.section_start, self.pickup, min(self.section_bars, MIN_SECTION_BARS),
                min(self.tune_bars, MIN_TUNE_BARS), self.closes_music, self.next_in, self.next_not_in, self.line_chars, self.line_first if self.line_chars == 1 else "", self.line_start is not None,
                self.blank_line, _alike(self.last), self.accidental, self.member_length,
                self.text if self.quoting else "", self.tuplet, self.tuplet_spec, self.dots, self.next_rhythm)

    def header_allows(self, char: str) -> bool:
        """In the header: lines are fields or comments; ``K:`` (which ends it) only
        after an ``M:`` with a meter, and after ``MAX_HEADER_LINES`` lines nothing else;
        ``X:``, ``M:``, ``L:``, ``Q:`` and ``K:`` values are ones music21 reads; the
        rest is free text."""
        ending = "K:" if self.meter is not None else "M:"  # a tune states its meter before its key
        if self.header_lines >= MAX_HEADER_LINES and len(self.line) < 2:
            return ending.startswith(self.line + char)
        if not self.line:  # a field (T:, ...) or a comment: no music before K:; X:, M:, L:, Q: once
            fresh = char not in self.stated and (char != "K" or self.meter is not None)
            return (char.isalpha() and fresh) or char == "%"
        if len(self.line) == 1 and self.line != "%":
            return char == ":"
        if char != "\n" and len(self.line) >= MAX_HEADER_LINE:
            return False
        return not self.heading or header_ok(self.line, char)

    @property
    def heading(self) -> bool:
        """Writing a header's ``X:``, ``M:``, ``L:``, ``Q:`` or ``K:`` line, whose value
        music21 must read (a tune number, a meter, a unit length, a tempo, a key)."""
        return self.mode == "header" and self.line[:2] in HEADER_VALUES

    @property
    def quoting(self) -> bool:
        """Inside ``"..."`` where the meter is known: a chord symbol, a fingering or an
        annotation (``^``, ``_``, ``<``, ``>``, ``@`` and text), as music21 reads them."""
        return self.mode == "text" and self.closer == '"' and self.bar is not None

    def copy(self) -> BarClock:
        """A copy to try a character on (every attribute is immutable)."""
        twin = object.__new__(BarClock)
        twin.__dict__.update(self.__dict__)
        return twin

    def _overflows(self) -> bool:
        return self.constrained and self.ticks > self.bar

    # -- reading --------------------------------------------------------------------
    def feed(self, char: str) -> None:
        """Read one character."""
        if self.mode == "done":
            return
        if self.next_in or self.next_not_in:
            self.broke |= (bool(self.next_in) and char not in self.next_in) or char in self.next_not_in
            self.next_in = self.next_not_in = ""
        if char == "\n":
            self.broke |= (self._overflows() and self.mode != "text") or self.quoting
            self.broke |= self.mode == "header" and not self.header_allows(char)
            self._end_line()
            self.run = ""
            return
        if char not in "|:]":
            if self.run and char.isdigit():  # an ending (|1, :|2) may be as short as it likes
                self.section_bars = MIN_SECTION_BARS
            self.run = ""
        if self.mode in ("header", "field"):
            self.broke |= self.mode == "header" and not self.header_allows(char)
            self.line += char
            return
        self.previous, self.last = self.last, char
        self.blank_before = self.blank_line
        self.blank_line = self.blank_line and char in " \t"
        self.line_chars = min(self.line_chars + 1, 3)
        self.line_first = self.line_first or char
        if self.mode == "text":
            if self.quoting:
                self.broke |= not quoted_ok(self.text, char)
            if char == self.closer:
                self.mode = "body"
                self._inline_field()
            else:
                self.text += char
            return
        if char == ":" and self.line_chars == 2 and self.line_first.isalpha() and self.line_start is not None:
            self.broke |= self.constrained and self.line_first not in BODY_FIELDS
            self._become_field_line()
        elif self.mode == "bracket":
            self._after_bracket(char)
        elif self.mode == "chord":
            self._in_chord(char)
        else:
            self._body(char)

    def _end_line(self) -> None:
        line, self.line = self.line, ""
        self.header_lines += self.mode == "header"
        self.line_chars, self.line_first, self.blank_line, self.last = 0, "", True, "\n"
        field = FIELD_LINE.fullmatch(line.strip())
        if self.mode == "header" and field and f"{field.group(1)}:" in HEADER_VALUES:
            self.stated += field.group(1)
        if self.mode in ("header", "field") and field:
            self._field(field.group(1), field.group(2))
        if self.mode in ("field", "text"):
            self.mode = "body"
        if self.mode == "body":
            self._end_length()
            self.line_start = self.copy()
            self.line_start.line_start = None

    def _field(self, letter: str, value: str) -> None:
        if letter == "M":
            self.meter = meter_length(value)
        elif letter == "L":
            found = UNIT.match(value)
            self.unit = Fraction(int(found.group(1)), int(found.group(2))) if found and int(found.group(2)) else None
        elif letter == "K" and self.mode == "header":
            self.mode = "body"
        self._set_bar()

    def _become_field_line(self) -> None:
        """``W:`` at the start of a body line: a field, not a note its letter began."""
        letter, broke = self.line_first, self.broke
        self.__dict__.update(self.line_start.__dict__)
        self.line, self.mode, self.broke = letter + ":", "field", broke

    def _inline_field(self) -> None:
        field = FIELD_LINE.fullmatch(self.text.strip()) if self.closer == "]" else None
        if field:
            self._field(field.group(1), field.group(2))
        self.text = ""

    def _after_bracket(self, char: str) -> None:
        """``[`` opens a chord, a ``[|`` bar line, an ending (``[1``) or an inline field."""
        self.mode = "body"
        if char in NOTE_NAMES or char in ACCIDENTALS:
            self._start_note(char)
            self.mode = "chord"
            self.chord_notes = int(char in NOTE_NAMES)
        elif char == "|":
            self.run = "["
            self._bar_line(char)
        elif char.isalpha():
            self.broke |= self.constrained and char in HEADER_KEPT
            self.mode, self.closer, self.text = "text", "]", char  # [P:B], read when it closes
            self.next_in = ":"
        elif char.isdigit():  # an ending ([1): no time
            self.section_bars = MIN_SECTION_BARS
        else:
            self.broke |= self.constrained

    def _in_chord(self, char: str) -> None:
        """Inside ``[...]``: up to ``CHORD_NOTES`` notes; the chord lasts as long as its
        first note."""
        if char == "]":
            self.broke |= self.constrained and (self.chord_notes < 1 or self.head)
            self.mode, self.lengthening = "body", True
            self.chord_notes = -1  # closed: a length now is the chord's
        elif char in NOTE_NAMES:
            self.broke |= self.constrained and self.chord_notes >= CHORD_NOTES
            self.head = False
            self.chord_notes += 1
            self.lengthening = self.chord_notes == 1
            self.member_length = ""
        elif char in ACCIDENTALS:
            self.broke |= self.constrained and self.chord_notes >= CHORD_NOTES
            self._accidental(char)
            self.lengthening = False
        elif char in LENGTH:
            if self.lengthening:
                self._lengthen(char)
            else:  # a later note's length: the chord's is its first note's
                self.member_length += char
                self.broke |= self.constrained and (self.head or not LENGTH_FORM.fullmatch(self.member_length))
        elif char in OCTAVES:
            self._octave()
        else:
            self.broke |= self.constrained
            self.lengthening = False

    def _octave(self) -> None:
        """``,`` or ``'`` right after a note's letter (or another octave mark)."""
        self.broke |= self.constrained and self.previous not in NOTE_NAMES | OCTAVES

    def _accidental(self, char: str) -> None:
        """``^``, ``^^``, ``_``, ``__`` or ``=`` before a note."""
        if self.head:
            self.broke |= self.constrained and not (char == self.accidental in ("^", "_"))
            self.accidental += char
        else:
            self.head, self.accidental = True, char

    def _body(self, char: str) -> None:
        if char in LENGTH and self.lengthening:
            self._lengthen(char)
            return
        if char in OCTAVES:
            self._octave()
            if self.lengthening:
                return
        if self.head and char in ACCIDENTALS:
            self._accidental(char)
            return
        if self.head and char in PITCHES:
            self.broke |= self.constrained and char not in NOTE_NAMES  # no accidental on a rest
            self.head = False
            self.lengthening = True
            return
        if char in PITCHES or char in ACCIDENTALS:
            self._start_note(char)
            return
        overflowing = self._overflows()
        self._end_length()
        if self.tuplet_spec and (char.isdigit() or char == ":"):
            self.tuplet_spec += char
            self._read_tuplet()
            return
        self.tuplet_spec = ""
        if char in "|:" or (char == "]" and self.run.endswith("|")):
            self._bar_line(char)
            return
        self.broke |= overflowing or (self.constrained and (
            (self.ticks == self.bar and (char not in AT_FULL_BAR or char == self.previous))
            or (char in NEVER_TWICE and char == self.previous)))
        if char in "><":
            self._broken_rhythm(char)
            return
        self.dots = 0
        if char == "(":
            self.tuplet_spec = "("
        if char in BAR_RESTS:
            self.broke |= self.constrained and self.ticks > 0
            self._commit()
            self.filled = self.bar or 0
        elif char == "[":
            self.mode = "bracket"
        elif char in "]}":  # closing nothing open
            self.broke |= self.constrained
        elif char.isalpha() and char not in DECORATIONS and self.constrained:
            if self.line_chars == 1 and self.line_start is not None and char in BODY_FIELDS:
                self.next_in = ":"  # a field line: w:, W:
            else:
                self.broke = True
        elif char in TEXT_CLOSERS:
            self.mode, self.closer, self.text = "text", TEXT_CLOSERS[char], ""

    # -- time -----------------------------------------------------------------------
    def _start_note(self, char: str) -> None:
        self._end_length()
        self.broke |= self.constrained and self.ticks >= self.bar
        self._commit()
        factor, left = self.tuplet
        if not left:
            factor = Fraction(1)
        self.tuplet = (factor, left - 1) if left > 1 else (Fraction(1), 0)
        self.note = Note(factor, rhythm=self.next_rhythm)
        self.next_rhythm, self.dots, self.tuplet_spec = Fraction(1), 0, ""
        self.head, self.accidental = char in ACCIDENTALS, char
        self.lengthening = not self.head

    def _end_length(self) -> None:
        """The last note's length is written: outside a tuplet the bar must be a
        whole number of ``GRID`` (so that it can be filled: no 1/44 notes)."""
        if self.lengthening and self.mode == "body" and self.constrained and not self.tuplet[1]:
            self.broke |= self.ticks % GRID != 0
        self.lengthening = False

    def _lengthen(self, char: str) -> None:
        if self.note is None:
            return
        before = self.ticks
        field = "chord_length" if self.chord_notes == -1 else "length"  # after a chord's "]": the chord's
        form = getattr(self.note, field) + char
        self.note = replace(self.note, **{field: form})
        after = self.ticks
        self.broke |= self.constrained and ((after > self.bar and after >= before) or not LENGTH_FORM.fullmatch(form))

    def _commit(self) -> None:
        self.filled = self.ticks
        self.note = None
        self.chord_notes = 0

    def _bar_line(self, char: str) -> None:
        """A bar line's character: the bar must be full, or short where it opens the
        tune or a section (a pickup, which no section end follows), or the pickup's
        complement where a section ends (``:|``, ``||``, ``|]``), which it may after
        ``MIN_SECTION_BARS`` full bars. An empty bar only where a line starts."""
        filled = self.ticks
        continuing = bool(self.run)
        self.run += char
        self.closes_music = self.closes_music if continuing else filled > 0
        if filled > 0:
            if self.constrained and self.section_start and filled < self.bar:
                self.pickup = filled
                self.broke |= char == ":"
                self.next_not_in = "|]"
            elif self.constrained and filled != self.bar:
                complement = (bool(self.pickup) and filled == self.bar - self.pickup
                              and self.section_bars >= MIN_SECTION_BARS - 1)
                self.broke |= not complement
                self.section_bars += 1  # with the pickup, one bar of the section
                self.next_in = "|]" if complement and char == "|" else ""
            self.section_start = False
            self.section_bars += filled == self.bar
            self.tune_bars += filled == self.bar
        elif self.constrained:
            self.broke |= self.run not in BAR_LINE_STARTS if continuing else not self.blank_before
        if self.run in (":", "||", "|]") and self.closes_music:  # a section ends
            self.broke |= self.constrained and self.section_bars < MIN_SECTION_BARS
        if ":" in self.run or len(self.run) > 1:
            self.section_start, self.section_bars = True, 0
        self._commit()
        self.filled = 0
        self.tuplet, self.next_rhythm, self.dots = (Fraction(1), 0), Fraction(1), 0

    def _broken_rhythm(self, char: str) -> None:
        """``A>B``: A dotted, B halved (``>>``: 7/4 and 1/4); ``<`` the other way."""
        if self.note is None:
            return
        self.dots += 1
        short = Fraction(1, 2**self.dots)
        long = 2 - short
        first, second = (long, short) if char == ">" else (short, long)
        before = self.ticks
        self.note = replace(self.note, rhythm=first)
        self.next_rhythm = second
        self.broke |= self.constrained and self.ticks >= self.bar and self.ticks >= before  # B needs room

    def _read_tuplet(self) -> None:
        parts = self.tuplet_spec[1:].split(":")
        if not parts[0].isdigit() or not int(parts[0]):
            return
        p = int(parts[0])
        compound = self.meter is not None and self.meter.numerator % 3 == 0 and self.meter.numerator > 3
        q = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else TUPLET_SPANS.get(p, 3 if compound else 2)
        r = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else p
        self.tuplet = (Fraction(q, p), r)


class WholeBars(TokenRule):
    """:class:`BarClock` over token ids: ``chars[i]`` is token ``i``'s character
    (None for tokens that are not text); ``end`` ends the tune."""

    def __init__(self, chars: list[str | None], end: int) -> None:
        self.chars = chars
        self.end = end
        self.clock = BarClock()
        self.masks = _masks_for(tuple(chars), end)
        self.classes: dict[str, list[int]] = {}  # tokens that behave alike: one trial each
        for token, char in enumerate(chars):
            if char is not None:
                self.classes.setdefault(_alike(char), []).append(token)

    def feed(self, token: int) -> None:
        if token == self.end:
            self.clock.mode = "done"
        elif self.chars[token] is not None:
            self.clock.feed(self.chars[token])

    def allowed(self) -> np.ndarray | None:
        clock = self.clock
        if clock.mode == "header":  # no caching: free text is seldom written twice
            mask = np.array([char is not None and clock.header_allows(char) for char in self.chars])
            mask[self.end] = False  # a tune has a body
            return mask if mask.any() else None
        if not (clock.constrained or clock.next_in or clock.quoting):
            return None
        key = clock.state()
        if key not in self.masks:
            if len(self.masks) >= MASKS_KEPT:
                self.masks.clear()
            self.masks[key] = self._trial_mask()
        return self.masks[key]

    def _trial_mask(self) -> np.ndarray | None:
        """Each class of tokens tried on a copy of the clock."""
        clock = self.clock
        if clock.quoting:  # every character counts here
            mask = np.array([char is not None and quoted_ok(clock.text, char) for char in self.chars])
            return mask if mask.any() else None
        mask = np.zeros(len(self.chars), dtype=bool)
        for char, tokens in self.classes.items():
            trial = clock.copy()
            trial.broke = False
            trial.feed(char)
            mask[tokens] = not trial.broke
        mask[self.end] = clock.mode == "body" and not clock._overflows() and clock.tune_bars >= MIN_TUNE_BARS
        return mask if mask.any() else None


@functools.lru_cache(maxsize=8)
def _masks_for(chars: tuple[str | None, ...], end: int) -> dict[tuple, np.ndarray | None]:
    """The masks found so far for one vocabulary, shared by all its rows."""
    return {}


@functools.lru_cache(maxsize=1)
def chord_symbol_prefixes() -> tuple[frozenset[str], frozenset[str]]:
    """The chord symbols a generated tune may state (every one music21 reads: root,
    quality, bass), and every beginning of one."""
    roots = [f"{letter}{accidental}" for letter in "ABCDEFG" for accidental in ("", "#", "b")]
    symbols = frozenset(f"{root}{quality}{bass}" for root in roots for quality in CHORD_QUALITIES
                        for bass in ["", *(f"/{r}" for r in roots)])
    return symbols, frozenset(symbol[:i] for symbol in symbols for i in range(1, len(symbol) + 1))


def quoted_ok(text: str, char: str) -> bool:
    """Whether ``char`` may follow ``text`` inside ``"..."``: a chord symbol, one digit
    (a fingering), or an annotation of up to ``ANNOTATION_CHARS`` characters."""
    symbols, prefixes = chord_symbol_prefixes()
    if char == '"':
        return text in symbols or (len(text) == 1 and text.isdigit()) or (len(text) > 1 and text[0] in ANNOTATIONS)
    if char == "\n":
        return False
    so_far = text + char
    if so_far[0] in ANNOTATIONS:
        return len(so_far) <= ANNOTATION_CHARS
    return so_far in prefixes or (len(so_far) == 1 and so_far.isdigit())


def header_ok(line: str, char: str) -> bool:
    """Whether ``char`` may follow ``line``, an ``X:``, ``M:``, ``L:`` or ``K:`` header
    line so far (a newline: whether the line is whole)."""
    whole, begun = HEADER_VALUES[line[:2]]
    value = line[2:]
    return bool(whole.fullmatch(value) if char == "\n" else begun.fullmatch(value + char))


def _alike(char: str) -> str:
    """A character that every clock treats as it treats ``char``."""
    if char in "ABCDEFGabcdefg":
        return "c"
    if char in SPECIAL:
        return char
    if char.isalpha():
        return "T" if char in DECORATIONS else "J"
    return "."
