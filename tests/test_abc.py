import json
import shutil

import music21
import pytest
import soundfile
import torch
from conftest import latest_generation

from noizenet.plugin.interfaces import Piece, Sample
from noizenet.plugins.abc import abcmidi
from noizenet.plugins.abc.engrave import engrave, with_key
from noizenet.plugins.abc.metrics import AbcValidity, keeps_key, keeps_meter
from noizenet.plugins.abc.representation import AbcConfig, AbcRepresentation
from noizenet.plugins.abc.text import normalize_tune, parse_abc, sample_midi, split_tunes, with_unit_length

TUNE = """X: 12
T: The Test Jig
N: collected somewhere % a note
Z: someone@example.com
M:6/8
L:1/8
R:jig
K:D
% a comment line
A|dfa afd|gbg faf|  % trailing comment
edc BAG|FAF E2:|
w: la la la
"""


def fitted(*texts: str) -> AbcRepresentation:
    representation = AbcRepresentation(AbcConfig())
    representation.fit([Piece(str(i), t) for i, t in enumerate(texts)])
    return representation


def validity(representation: AbcRepresentation, piece: Piece) -> dict:
    """The abc-validity metric's facts about ``piece`` as a generated sample."""
    sample = Sample("s", "start", 1.0, representation.encode(piece), 1, piece)
    return AbcValidity().per_sample(sample, representation)


BODY = "A|dfa afd|gbg faf|\nedc BAG|FAF E2:|\n"


def test_normalize_keeps_the_tune_as_written_but_tidy():
    assert normalize_tune(TUNE + "\n\n") == "\n".join(line.rstrip() for line in TUNE.splitlines()) + "\n"


def test_normalize_can_drop_fields_comments_and_lyrics():
    assert normalize_tune(TUNE, drop_fields="XTNZw", drop_comments=True) == "M:6/8\nL:1/8\nR:jig\nK:D\n" + BODY


def test_tune_without_key_or_body_is_unusable():
    assert normalize_tune("X:1\nT:no key\nabc|\n") is None
    assert normalize_tune("X:1\nT:no body\nK:G\n") is None
    assert normalize_tune("X:1\nT:no body\nK:G\n", header_only=True) == "X:1\nT:no body\nK:G\n"  # a prime


def test_split_on_x_drops_text_before_the_first_tune():
    tunes = split_tunes("% book header\nX:1\nK:C\nCDE|\n\nX:2\nK:G\nGAB|\n")
    assert [t.splitlines()[0] for t in tunes] == ["X:1", "X:2"]


def test_round_trip_returns_the_normalized_tune():
    representation = fitted(TUNE)
    encoded = representation.encode(Piece("a", TUNE))
    assert encoded.dtype == torch.long
    assert encoded[0] == representation.spec.start and encoded[-1] == representation.spec.stop
    assert representation.decode(encoded).data == normalize_tune(TUNE)
    dropping = AbcRepresentation(AbcConfig(drop_fields="XTNZw", drop_comments=True))
    dropping.fit([Piece("a", TUNE)])
    assert dropping.decode(dropping.encode(Piece("a", TUNE))).data.startswith("M:6/8\nL:1/8")


def test_unseen_characters_map_to_unknown_not_a_crash():
    representation = fitted(TUNE)
    encoded = representation.encode(Piece("b", "X:1\nK:D\nAB ~é|\n"))
    assert (encoded == 2).sum() == 2  # "~" and "é" were never seen in training
    assert representation.decode(encoded).data == "X:1\nK:D\nAB |\n"


def test_vocabulary_travels_in_state_dict():
    representation = fitted(TUNE)
    fresh = AbcRepresentation(AbcConfig())
    fresh.load_state_dict(representation.state_dict())
    assert fresh.spec == representation.spec
    assert torch.equal(fresh.encode(Piece("a", TUNE)), representation.encode(Piece("a", TUNE)))


def test_opening_is_header_and_first_bar():
    representation = fitted(TUNE)
    opening = representation.decode(representation.opening(Piece("a", TUNE))).data
    assert opening == normalize_tune(TUNE).split("K:D\n")[0] + "K:D\n% a comment line\nA|dfa afd|"
    assert representation.opening(None).tolist() == [representation.spec.start]


def test_a_prime_is_the_whole_tune_or_its_first_bars():
    representation = fitted(TUNE)
    whole = representation.decode(representation.prime(Piece("a", TUNE))).data
    assert whole == normalize_tune(TUNE)  # every character, and no end token: the model goes on after it
    assert representation.prime(Piece("a", TUNE))[-1] != representation.spec.stop
    for bars in (1, 2, 3):  # the pickup "A|" counts with the bar after it
        cut = representation.decode(representation.prime(Piece("a", TUNE), bars=bars)).data
        assert cut.endswith("|") and cut.split("K:D\n% a comment line\n")[1].count("|") == bars + 1
    text = "X:1\nM:4/4\nL:1/8\nK:G\n|:GABc dedB|dBGB A2A2:|\n|:d2 dc BcdB|1 A4 G4:|2 A4 G4|]\n"
    assert representation.decode(representation.prime(Piece("b", text), bars=2)).data.endswith("|dBGB A2A2:|")


def test_write_produces_abc_midi_and_wav_that_open(tmp_path):
    representation = fitted(TUNE)
    piece = representation.decode(representation.encode(Piece("a", TUNE)))
    files = representation.write(piece, tmp_path / "tune")
    engraved = [".svg"] if shutil.which("abcm2ps") else []  # sheet music where abcm2ps is installed
    assert sorted(f.suffix for f in files) == sorted([".abc", ".mid", ".wav", *engraved])
    if engraved:
        assert (tmp_path / "tune.svg").read_text().lstrip().startswith("<?xml") and "<svg" in (tmp_path / "tune.svg").read_text()
    assert len(music21.converter.parse(tmp_path / "tune.abc").flatten().notes) == 23
    assert len(music21.converter.parse(tmp_path / "tune.mid").flatten().notes) == 46  # ":|" plays it twice
    audio, rate = soundfile.read(tmp_path / "tune.wav")
    assert rate == 22050 and len(audio) > rate  # more than a second of sound
    assert abs(audio).max() > 0.01


def test_broken_tune_keeps_its_abc_and_says_why(tmp_path):
    representation = fitted(TUNE)
    short = Piece("g", "L:1/8\nK:D\nA|\n")
    assert ".abc" in [f.suffix for f in representation.write(short, tmp_path / "short")]
    facts = validity(representation, short)
    assert facts["valid"] is False and "only 1 notes" in facts["error"]
    broken = Piece("h", "L:1/8\nK:D\nA|[ceg\n")  # an unclosed chord
    assert ".mid" not in [f.suffix for f in representation.write(broken, tmp_path / "broken")]
    assert "music21 cannot parse it" in validity(representation, broken)["error"]


def test_a_real_tune_is_valid():
    facts = validity(fitted(TUNE), Piece("a", normalize_tune(TUNE)))
    assert facts["valid"] is True and facts["notes"] == 23 and facts["error"] is None


def test_a_tune_without_unit_length_gets_the_standard_default():
    assert with_unit_length("X:1\nM:6/8\nK:D\nA|\n") == "X:1\nM:6/8\nL:1/8\nK:D\nA|\n"
    assert with_unit_length("X:1\nM:2/4\nK:D\nA|\n") == "X:1\nM:2/4\nL:1/16\nK:D\nA|\n"
    assert with_unit_length(TUNE) == TUNE
    facts = validity(fitted(TUNE), Piece("n", "X:1\nM:6/8\nK:D\ndfa afd|gbg faf|\n"))
    assert facts["valid"] is True and facts["notes"] == 12


def test_badly_formed_repeats_still_give_a_midi_file(tmp_path):
    representation = fitted(TUNE)
    piece = Piece("r", "X:1\nL:1/8\nK:D\nABcd|:efga|bagf::gfed|\n")  # a repeat music21 cannot expand
    files = representation.write(piece, tmp_path / "repeats")
    assert [f.suffix for f in files if f.suffix != ".svg"] == [".abc", ".mid", ".wav"]
    assert len(music21.converter.parse(tmp_path / "repeats.mid").flatten().notes) >= 16
    facts = validity(representation, piece)
    assert facts["valid"] is True and facts["midi_error"] is None


def test_a_tune_without_a_key_field_is_engraved_in_c(tmp_path):
    assert with_key("X:1\nT:t\nM:6/8\nB: | A2A\n% note\n|: cde :|\n") == "X:1\nT:t\nM:6/8\nB: | A2A\n% note\nK:C\n|: cde :|\n"
    assert with_key("X:1\nK:D\nabc|\n") == "X:1\nK:D\nabc|\n"
    if shutil.which("abcm2ps"):  # else engrave says it is missing (tested with the report)
        assert engrave("X:1\nT:no key\nM:2/4\nL:1/8\nabcd|efga|\n", tmp_path / "t.svg") is None
        assert (tmp_path / "t.svg").read_text().lstrip().startswith("<")


@pytest.mark.skipif(shutil.which("abc2midi") is None, reason="abc2midi (Debian abcmidi) is not installed here")
def test_a_tune_music21_cannot_read_is_played_by_abc2midi(tmp_path, monkeypatch):
    representation = fitted(TUNE)
    tune = "X: H82\nT:Model's tune\nM:2/4\nL:1/8\nK:G\nD2 A,2|E(F F2)A2|A2FD E2GA|G2GE DGAB|\n"
    assert parse_abc(tune)[0] is None  # music21: "invalid literal for int()" in X:
    files = representation.write(Piece("x", tune), tmp_path / "odd")
    assert {f.suffix for f in files} >= {".abc", ".mid", ".wav"}
    assert len(music21.converter.parse(tmp_path / "odd.mid").flatten().notes) >= 14  # abc2midi played the notes
    facts = validity(representation, Piece("x", tune))
    assert facts["valid"] is False and facts["midi_error"] is None
    monkeypatch.setattr(abcmidi.shutil, "which", lambda name: None)
    assert "abc2midi is not installed" in sample_midi(tune + "A|")[1]


def test_built_in_synthesizer_renders_when_fluidsynth_is_missing(tmp_path, monkeypatch):
    from noizenet.plugins import synthesis

    representation = fitted(TUNE)
    representation.write(Piece("a", normalize_tune(TUNE)), tmp_path / "tune")
    monkeypatch.setattr(synthesis.shutil, "which", lambda name: None)
    assert synthesis.renderer().startswith("built-in synthesizer")
    synthesis.render_midi(tmp_path / "tune.mid", tmp_path / "builtin.wav")
    audio, rate = soundfile.read(tmp_path / "builtin.wav")
    assert rate == 22050 and 5 < len(audio) / rate < 30
    assert 0.85 < abs(audio).max() < 0.95  # peak-normalised, not clipped


# -- steering: --meter, --key, --unit ---------------------------------------------------
JIG = "X:1\nT:A jig\nM:6/8\nL:1/8\nK:D\nA|dfa afd|gbg fdB|AFA dfa|bag fed|\ndfa afd|gbg fdB|AFA dfe|d3 d2:|\n"


def test_keeps_meter_and_key_judge_the_music_not_the_header():
    score, _ = parse_abc(JIG)
    assert keeps_meter(score, "6/8") and not keeps_meter(score, "4/4")
    assert keeps_key(score)
    wrong, _ = parse_abc(JIG.replace("K:D", "K:Eb"))  # D-major notes under three flats
    assert not keeps_key(wrong)


def test_steering_states_the_header_and_the_report_counts_what_was_kept(cli, trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    result = cli("generate", run, "--meter", "6/8", "--key", "D", "--unit", "1/8", "-n", "3", "--seed", "2")
    assert result.exit_code == 0, result.output
    folder = latest_generation(run)
    rows = json.loads((folder / "samples.json").read_text())["samples"]
    for row in rows:
        assert (folder / f"{row['name']}.abc").read_text().startswith("X:1\nM:6/8\nL:1/8\nK:D\n")
        assert row["asked_meter"] == "6/8" and row["asked_key"] == "D"
        assert row["meter_kept"] in (True, False, None) and row["key_kept"] in (True, False, None)
    wrong = cli("generate", run, "--key", "H", "-q")
    assert wrong.exit_code == 2 and "--key 'H' is not an ABC key" in wrong.output
