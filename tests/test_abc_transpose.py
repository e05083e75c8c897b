import music21
import pytest

from noizenet.datasets.abc_files import read_text
from noizenet.plugins.abc.text import normalize_tune, parse_abc, split_tunes
from noizenet.plugins.abc.transpose import transpose_tune

TUNE = """X:1
T:Accidentals and chords
M:6/8
L:1/8
K:D
"D"A|dfa ^afd|"G"gbg =faf|"A7"edc BAG,|"F#m/C#"FAF E2:|
"""


def pitches(text: str) -> list[int]:
    score, error = parse_abc(text)
    assert error is None, error
    notes = [n for n in score.flatten().notes if not isinstance(n, music21.harmony.ChordSymbol)]
    return [p.midi for n in notes for p in n.pitches]


@pytest.mark.parametrize("semitones", [-5, -2, 2, 5, 7])
def test_every_note_moves_by_exactly_the_shift(semitones):
    moved = transpose_tune(TUNE, semitones)
    assert [p + semitones for p in pitches(TUNE)] == pitches(moved)


def test_key_and_chord_symbols_move_too():
    moved = transpose_tune(TUNE, 5)
    assert "K:G" in moved and '"G"' in moved and '"C"' in moved and '"D7"' in moved and '"Bm/F#"' in moved
    assert moved.startswith("X:1\nT:Accidentals and chords\n")  # header text untouched


def test_there_and_back_is_the_identity():
    assert transpose_tune(transpose_tune(TUNE, 5), -5) == TUNE


def test_keys_that_cannot_move_give_none():
    assert transpose_tune("K:HP\nABc|\n", 2) is None
    assert transpose_tune("K:C#\nCDE|\n", 2) is None  # D# major would need double sharps
    assert transpose_tune("K:A#m\nABc|\n", 2) is None  # B#m: 9 sharps



def test_real_tunes_keep_their_intervals():
    import pathlib

    folder = pathlib.Path(music21.__file__).parent / "corpus" / "oneills1850"
    tunes = [normalize_tune(t) for t in split_tunes(read_text(sorted(folder.glob("*.abc"))[0]))][:15]
    checked = 0
    for tune in filter(None, tunes):
        moved = transpose_tune(tune, -2)
        if moved is None or parse_abc(tune)[1]:
            continue
        assert [p - 2 for p in pitches(tune)] == pitches(moved)
        checked += 1
    assert checked >= 10
