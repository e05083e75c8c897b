"""Whole bars: the ABC token rule that keeps generated tunes in their meter."""

import string
from fractions import Fraction

import pytest
import torch

from noizenet.generate.generator import generate
from noizenet.plugin.interfaces import OutputSpec, Piece
from noizenet.plugin.kinds import Categorical
from noizenet.plugins.abc.bars import TICKS, BarClock, WholeBars, meter_length, note_length
from noizenet.plugins.abc.representation import AbcConfig, AbcRepresentation
from noizenet.plugins.abc.text import parse_abc

# a 6/8 jig that keeps its meter in every way ABC writes time: 8-bar sections, a
# pickup and its complement at the repeat, a second section opening with a pickup, chords with a
# length inside and after the bracket, a triplet, broken rhythm, grace notes, chord
# symbols, decorations, a slur, a tie, a comment, a lyrics line, an inline field
JIG = """X:1
T:Every Way
M:6/8
L:1/8
K:D
A|"D"dfa afd|{g}fed ~e2d|[df]2[ce] [B/d/]A/ F2|(3efg f-f2e|dfa afd|fed e2d|dfa afd|fed e2:|
% second part
|:f/g/|a>ga f2d|e3 e2f|dfa afd|fed e2d|dfa afd|fed e2d|dfa afd|
w:la la
[P:B]d2 c2 B2|A6:|
"""


def forbidden(text: str, rule: WholeBars | None = None) -> list[int]:
    """Positions in ``text`` whose character the rule would not have allowed."""
    rule = rule or WholeBars([None, *sorted(set(text))], end=0)
    index = {c: i for i, c in enumerate(rule.chars) if c is not None}
    bad = []
    for position, char in enumerate(text):
        allowed = rule.allowed()
        if allowed is not None and not allowed[index[char]]:
            bad.append(position)
        rule.feed(index[char])
    return bad


def rule_for(text: str) -> WholeBars:
    """A rule that has read ``text`` and knows every character ABC tunes use."""
    chars = sorted(set(text + string.ascii_letters + string.digits + string.punctuation + " \n"))
    rule = WholeBars([None, *chars], end=0)
    for char in text:
        rule.feed(1 + chars.index(char))
    return rule


def allows(rule: WholeBars, char: str) -> bool:
    allowed = rule.allowed()
    return allowed is None or bool(allowed[rule.chars.index(char)])


@pytest.mark.parametrize("suffix, units", [("", 1), ("2", 2), ("/", Fraction(1, 2)), ("//", Fraction(1, 4)),
                                           ("/2", Fraction(1, 2)), ("3/2", Fraction(3, 2)), ("3/", Fraction(3, 2)),
                                           ("/4", Fraction(1, 4)), ("12", 12)])
def test_note_lengths_read_as_abc_states_them(suffix, units):
    assert note_length(suffix) == units


def test_meters_in_whole_notes():
    assert meter_length("6/8") == Fraction(3, 4) and meter_length("C") == 1 and meter_length("C|") == 1
    assert meter_length("2+3/8") == Fraction(5, 8)
    assert meter_length("none") is None and meter_length("") is None


def test_a_tune_that_keeps_its_meter_is_never_stopped():
    assert forbidden(JIG) == []
    clock = BarClock()
    for char in JIG:
        clock.feed(char)
    assert clock.meter == Fraction(3, 4) and clock.bar == 6 * TICKS and not clock.broke


def test_bar_lines_only_where_the_bar_is_full():
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|fed")
    assert not allows(rule, "|") and allows(rule, "e")
    for char in "e3":
        rule.feed(rule.chars.index(char))
    assert allows(rule, "|") and not allows(rule, "e") and allows(rule, " ")


def test_the_first_bar_may_be_a_pickup_and_a_section_ends_on_its_complement():
    head = "X:1\nM:6/8\nL:1/8\nK:D\nA|" + "dfa afd|fed e2d|" * 3 + "dfa afd|fed e2"
    assert allows(rule_for("X:1\nM:6/8\nL:1/8\nK:D\nA"), "|")
    assert not allows(rule_for(head[:-1]), "|")  # 4 of 6
    assert allows(rule_for(head), ":")  # the pickup's complement before :|
    closing = rule_for(head + "|")  # "||" or "|]" must follow a short "|"
    assert allows(closing, "|") and allows(closing, "]") and not allows(closing, "d")


def test_a_note_that_overflows_must_be_shortened():
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa af ")
    assert allows(rule, "d")  # one unit left
    rule.feed(rule.chars.index("d"))
    assert not allows(rule, "2") and allows(rule, "/") and allows(rule, "'") and allows(rule, "|")
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\n" + "dfa afd|" * 4 + "dfa afe/")  # half a unit left: d overflows
    rule.feed(rule.chars.index("d"))
    assert not allows(rule, "|") and not allows(rule, " ") and not allows(rule, "2") and allows(rule, "/")
    assert not rule.allowed()[0]  # nor may the tune end in mid-note
    rule.feed(rule.chars.index("/"))
    assert allows(rule, "|") and rule.allowed()[0]


def test_free_meter_and_headers_are_not_constrained():
    assert rule_for("X:1\nM:none\nL:1/8\nK:D\ndfa afd fe").allowed() is None
    header = rule_for("X:1\nM:6/8\nL:1/8\n")  # in the header: free text, but the tune may not end
    assert allows(header, "T") and allows(header, "%") and not header.allowed()[0]


def test_generation_keeps_the_header_s_meter_and_key():
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|\n")
    rule.feed(rule.chars.index("M"))
    assert not allows(rule, ":")
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|\nw")
    assert allows(rule, ":")
    assert not allows(rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|["), "K")


def test_a_meter_change_in_the_body_changes_the_bar():
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|\nM:2/4\nL:1/8\nd2 f")
    assert allows(rule, "a") and not allows(rule, "|")
    rule.feed(rule.chars.index("a"))
    assert allows(rule, "|")


def test_generation_with_the_rule_writes_whole_bars():
    """A model that wants a bar line after every note still writes full 6/8 bars."""
    favoured = {"|": 4.0, "d": 2.0, "f": 2.0, "a": 2.0, "2": 1.0, "/": 0.0}
    representation = AbcRepresentation(AbcConfig())
    representation.fit([Piece("jig", JIG)])
    spec = representation.spec

    class BarHappy(torch.nn.Module):
        def forward(self, x, state=None):
            logits = torch.full((x.shape[0], x.shape[1], spec.size), -20.0)
            for char, logit in favoured.items():
                logits[..., representation._index[char]] = logit
            return logits, state

        def sharpening(self, state):
            return None

        def compiled_sampler(self, rows):
            return None

    prime = representation.steered_opening({"meter": "6/8", "key": "D"})
    out = generate(BarHappy(), spec, [prime] * 3, [1.0] * 3, max_length=150, seed=0, device=torch.device("cpu"),
                   rules=[representation.token_rule() for _ in range(3)])
    for row in out.sequences:
        tune = representation.decode(row).data
        assert forbidden(tune) == []  # read afresh, the tune keeps every rule
        lengths = bar_lengths(tune)
        assert max(lengths) == 3, tune  # no bar overflows
        # the short ones: pickups opening sections and their complements closing them
        assert sum(length == 3 for length in lengths) >= 0.55 * len(lengths), tune
    unruled = generate(BarHappy(), spec, [prime], [1.0], max_length=150, seed=0, device=torch.device("cpu"))
    lengths = bar_lengths(representation.decode(unruled.sequences[0]).data)
    assert sum(length == 3 for length in lengths) < 0.3 * len(lengths)


def bar_lengths(tune: str) -> list[float]:
    """Quarter notes in each of the tune's inner bars, as music21 reads them."""
    score, error = parse_abc(tune + "\n")
    assert score is not None, error
    lengths = [m.duration.quarterLength for m in score.recurse().getElementsByClass("Measure")][1:-1]
    assert len(lengths) >= 5, tune
    return lengths


def test_whole_bars_can_be_turned_off():
    assert AbcRepresentation(AbcConfig(whole_bars=False)).token_rule() is None


def test_chords_hold_notes_and_inline_fields_name_a_field():
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa [d")
    assert allows(rule, "f") and allows(rule, "]") and allows(rule, "'") and not allows(rule, ".")
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa [T")
    assert allows(rule, ":") and not allows(rule, "e")


def test_blanks_do_not_pad_a_bar_and_a_tie_is_one_dash():
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa ")
    assert not allows(rule, " ") and allows(rule, "d")
    tied = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa a-")
    assert not allows(tied, "-") and allows(tied, "a")


def test_letters_are_notes_or_decorations_music21_reads():
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\ndfa ")
    assert allows(rule, "T") and allows(rule, "u") and not allows(rule, "H") and not allows(rule, "J")


def test_quoted_text_is_a_chord_symbol_a_fingering_or_an_annotation():
    chord = rule_for('X:1\nM:6/8\nL:1/8\nK:D\ndfa "Em')
    assert allows(chord, "7") and allows(chord, '"') and allows(chord, "/") and not allows(chord, "E")
    opened = rule_for('X:1\nM:6/8\nL:1/8\nK:D\ndfa "')
    assert allows(opened, "E") and allows(opened, "^") and allows(opened, "4") and not allows(opened, "S")
    assert allows(rule_for('X:1\nM:6/8\nL:1/8\nK:D\ndfa "^Seg'), "n")
    after_comment = rule_for('X:1\nM:6/8\nL:1/8\nK:D\ndfa afd|% a note\n"')  # the comment is not the symbol
    assert allows(after_comment, "A") and not allows(after_comment, "n")
    fingering = rule_for('X:1\nM:6/8\nL:1/8\nK:D\ndfa "4')
    assert allows(fingering, '"') and not allows(fingering, "4")


def test_lengths_accidentals_and_octaves_are_written_as_abc_writes_them():
    rule = rule_for("X:1\nM:6/8\nL:1/8\nK:D\nd")
    assert allows(rule, "/") and allows(rule, "'") and not allows(rule, "0")
    for text, char, verdict in (("d/", "/", True), ("d/2", "/", False), ("^", "^", True), ("^", "z", False),
                                ("^^", "^", False), ("=", "=", False), ("d2", ",", False), ("d,", ",", True)):
        assert allows(rule_for("X:1\nM:6/8\nL:1/8\nK:D\n" + text), char) == verdict, (text, char)


def test_tokens_tried_as_one_class_are_allowed_alike():
    """The rule tries one character per class of alike ones and remembers masks by
    state: at every step of real and of garbled tunes, the mask equals trying every
    character on its own."""
    garbled = JIG.replace("|", "K", 3).replace("d", '"S', 2) + "[K:G]HJw:^^_=z4/0//3(3:2:3abc>>d<e[ce'g]"
    for text in (JIG, garbled):
        rule = rule_for("")
        for char in text:
            mask = rule.allowed()
            if mask is not None:
                for token, candidate in enumerate(rule.chars):
                    if candidate is None:
                        continue
                    trial = rule.clock.copy()
                    trial.broke = False
                    trial.feed(candidate)
                    assert mask[token] == (not trial.broke), (text[: text.index(char)], candidate)
            rule.feed(rule.chars.index(char))


def test_header_values_are_ones_music21_reads():
    assert allows(rule_for("X:1\nM:6/8\nL:1/"), "8") and not allows(rule_for("X:1\nM:6/8\nL:"), "J")
    assert not allows(rule_for("X: "), "H") and allows(rule_for("X: "), "4")
    assert allows(rule_for("X:1\nM:6/8\nL:1/8\nK: A"), "m") and not allows(rule_for("X:1\nM:6/8\nL:1/8\nK:"), "x")
    assert not allows(rule_for("X:1\nM:6/8\nL:1"), "\n") and allows(rule_for("X:1\nM:6/8\nL:1/8"), "\n")
    assert allows(rule_for("X:1\nT:"), "H")  # a title is free


def test_a_header_is_fields_and_comments_and_ends_in_k():
    assert not allows(rule_for("X:1\nT:A\n"), " ") and allows(rule_for("X:1\nT:A\n"), "%")
    assert not allows(rule_for("X:1\nT:A\nN"), "a")
    long_header = "X:1\n" + "N:a\n" * 11
    assert allows(rule_for(long_header), "M") and not allows(rule_for(long_header), "K")  # no meter yet
    long_header = "X:1\nM:6/8\n" + "N:a\n" * 10
    assert allows(rule_for(long_header), "K") and not allows(rule_for(long_header), "N")
    stated = rule_for("X:1\nT:A\nM:6/8\nL:1/8\nQ:1/4=120\n")  # X:, M:, L:, Q: once each; T: as often as it likes
    assert allows(stated, "T") and allows(stated, "K") and not any(allows(stated, c) for c in "XMLQ")


def test_a_tune_ends_after_four_bars_and_its_body_holds_no_header_fields():
    short = rule_for("X:1\nM:6/8\nL:1/8\nK:D\n" + "dfa afd|" * 3)
    assert not short.allowed()[0]
    short.feed(short.chars.index("\n"))
    assert not allows(short, "N") and not allows(short, "K") and allows(short, "w") and allows(short, "T")
    whole = rule_for("X:1\nM:6/8\nL:1/8\nK:D\n" + "dfa afd|" * 4)
    assert whole.allowed()[0]
