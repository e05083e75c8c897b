"""Polyphonic symbolic music: the multi-label output kind, notes and piano rolls,
MIDI tokens, the MIDI, chorale and .mat datasets, polyphonic measures, whole runs."""

import json
import logging

import mido
import music21
import numpy as np
import pretty_midi
import pytest
import scipy.io
import soundfile
import torch
from conftest import TINY_ANY_REPR, latest_generation

from noizenet.datasets import midi_files
from noizenet.datasets.midi_files import BachChorales, BachChoralesConfig, MidiFiles, MidiFilesConfig, PianorollMat, PianorollMatConfig
from noizenet.errors import ConfigError, DataError
from noizenet.generate.generator import generate
from noizenet.plugin.interfaces import EvaluationContext, Piece, Sample
from noizenet.plugins.midi.multilabel import MultiLabel
from noizenet.plugins.midi.instruments import Instruments
from noizenet.plugins.midi.metrics import continuation, measures
from noizenet.plugins.midi.nade import NadeKeys
from noizenet.plugins.midi.notes import DRUMS, KEYS, LOWEST, notes_array, notes_score, notes_from_roll, notes_piece, read_midi, roll_from_notes, write_notes_midi
from noizenet.plugins.midi.pianoroll import PianorollConfig, PianorollRepresentation, frequency_baseline
from noizenet.plugins.midi.tokens import MidiConfig, MidiRepresentation
from noizenet.data.splits import split_pieces

CHORDS = [(60, 64, 67), (62, 65, 69), (59, 62, 67), (60, 64, 67)]  # I ii V I in C


def progression(bars: int, shift: int = 0) -> np.ndarray:
    """A melody of quarter notes over whole-note chords: ``bars`` bars of 4/4."""
    rows = []
    for bar in range(bars):
        chord = CHORDS[bar % len(CHORDS)]
        rows += [(4 * bar, 4 * bar + 4, p + shift - 12, 70) for p in chord]
        rows += [(4 * bar + q, 4 * bar + q + 1, chord[q % 3] + shift + 12, 90) for q in range(4)]
    return notes_array(rows)


def band(bars: int, shift: int = 0) -> np.ndarray:
    """The progression on three instruments (strings' chords, a flute's melody, an
    electric bass on the roots) over a rock beat (kick, snare, eighth-note hi-hats)."""
    rows = []
    for note in progression(bars, shift):
        part = 48 if note[1] - note[0] == 4 else 73
        rows.append((*note[:4], part))
        if part == 48 and note[2] % 12 == (CHORDS[int(note[0]) // 4 % len(CHORDS)][0] + shift) % 12:
            rows.append((note[0], note[1], note[2] - 12, 100, 33))
    for eighth in range(8 * bars):
        rows.append((eighth / 2, eighth / 2 + 0.25, 42, 60, DRUMS))
        if eighth % 2 == 0:
            rows.append((eighth / 2, eighth / 2 + 0.25, 36 if eighth % 4 == 0 else 38, 100, DRUMS))
    return notes_array(rows)


def write_mat(path, counts=(6, 2, 2)) -> None:
    """A .mat file in the Boulanger-Lewandowski format: object arrays of (frames, 88) rolls."""
    content = {}
    for key, count in zip(("traindata", "validdata", "testdata"), counts):
        rolls = np.empty((1, count), dtype=object)
        for i in range(count):
            rolls[0, i] = roll_from_notes(progression(8, shift=i % 3), 32, 1.0).astype(np.uint8)
        content[key] = rolls
    scipy.io.savemat(path, content)


# -- the output kind ------------------------------------------------------------------
def test_multilabel_loss_is_the_sum_of_the_keys_log_losses():
    y = torch.tensor([[[0.0, 2.0, -1.0]]])
    target = torch.tensor([[[1.0, 0.0, 0.0]]])
    expected = -(np.log(0.5) + np.log(1 - 1 / (1 + np.exp(-2.0))) + np.log(1 - 1 / (1 + np.exp(1.0))))
    assert MultiLabel().step_losses(y, target).item() == pytest.approx(expected, rel=1e-6)


def test_multilabel_sampling_follows_temperature_and_noise_spares_forced_rows():
    y = torch.tensor([[3.0, -3.0, 0.5]]).repeat(4, 1)
    generator = torch.Generator().manual_seed(0)
    greedy = MultiLabel().sampler(torch.zeros(4), None, generator)(y, torch.zeros(4, dtype=torch.bool))
    assert greedy.tolist() == [[1.0, 0.0, 1.0]] * 4
    draw = MultiLabel().sampler(torch.ones(4), None, generator)
    drawn = torch.stack([draw(y, torch.zeros(4, dtype=torch.bool)) for _ in range(500)])
    assert drawn.mean((0, 1)).tolist() == pytest.approx(torch.sigmoid(y[0]).tolist(), abs=0.05)
    noisy = MultiLabel().sampler(torch.zeros(4), None, generator, inject_noise=1.0)
    flipped = noisy(y, torch.tensor([True, False, True, False]))
    assert flipped[0].tolist() == [1.0, 0.0, 1.0] and flipped[1].tolist() == [0.0, 1.0, 0.0]


def test_nade_keys_is_a_distribution_over_whole_frames_and_sampling_draws_from_it():
    kind = NadeKeys(keys=3, rank=2)
    y = torch.randn(1, 1, kind.size, generator=torch.Generator().manual_seed(1)) * 2
    frames = torch.tensor([[a, b, c] for a in (0.0, 1.0) for b in (0.0, 1.0) for c in (0.0, 1.0)])
    nll = torch.stack([kind.step_losses(y, frame.view(1, 1, 3)).squeeze() for frame in frames])
    probabilities = torch.exp(-nll)
    assert probabilities.sum().item() == pytest.approx(1.0, abs=1e-5)  # the 8 frames share all the mass
    draw = kind.sampler(torch.ones(4000), None, torch.Generator().manual_seed(0))
    drawn = draw(y[0].expand(4000, -1), torch.zeros(4000, dtype=torch.bool))
    counts = torch.stack([(drawn == frame).all(-1).float().mean() for frame in frames])
    assert counts.tolist() == pytest.approx(probabilities.tolist(), abs=0.03)


def test_nade_keys_learn_that_two_keys_never_sound_together():
    """Frames hold key 0 or key 1, never both nor neither: independent keys cannot say so."""
    torch.manual_seed(0)
    kind = NadeKeys(keys=2, rank=4)
    which = torch.rand(256) < 0.5
    target = torch.stack([which, ~which], -1).float().view(1, 256, 2)
    y = torch.zeros(1, 1, kind.size, requires_grad=True)
    optimizer = torch.optim.Adam([y], lr=0.1)
    for _ in range(300):
        optimizer.zero_grad()
        kind.loss(y.expand(1, 256, -1), target).backward()
        optimizer.step()
    loss = kind.loss(y.expand(1, 256, -1), target).item()
    assert loss < np.log(2) + 0.02  # a fair coin between two frames; independent keys need 2 log 2


# -- notes and piano rolls ------------------------------------------------------------
def test_a_roll_round_trips_through_notes_with_held_keys_joined():
    roll = (np.random.default_rng(0).random((40, KEYS)) < 0.05).astype(np.float32)
    roll[5:12, 40] = 1.0
    notes = notes_from_roll(roll, 1.0)
    assert np.array_equal(roll_from_notes(notes, 40, 1.0), roll)
    held = notes[(notes[:, 2] == LOWEST + 40) & (notes[:, 0] <= 5) & (notes[:, 1] >= 12)]
    assert len(held) == 1  # one note, not seven re-struck ones


def test_midi_files_round_trip_and_open_in_music21(tmp_path):
    notes = progression(2)
    path = write_notes_midi(notes, tmp_path / "p.mid")
    back = read_midi(path)
    assert np.allclose(back[:, :3], notes[:, :3], atol=1e-3) and np.array_equal(back[:, 3:], notes[:, 3:])
    score = music21.converter.parse(path)
    assert max(len(c.pitches) for c in score.chordify().flatten().getElementsByClass("Chord")) >= 4


def test_multitrack_midi_keeps_each_instrument_and_the_drums(tmp_path):
    notes = band(2)
    path = write_notes_midi(notes, tmp_path / "band.mid")
    back = read_midi(path)
    assert np.allclose(back[:, :3], notes[:, :3], atol=1e-3) and np.array_equal(back[:, 3:], notes[:, 3:])
    tracks = {(i.program, i.is_drum, i.name) for i in pretty_midi.PrettyMIDI(str(path)).instruments}
    assert tracks == {(48, False, "String Ensemble 1"), (73, False, "Flute"), (33, False, "Electric Bass (finger)"),
                      (0, True, "Drums")}


def test_a_format_0_file_is_read_by_channel_and_a_drum_only_file_is_read(tmp_path):
    events = mido.MidiTrack([
        mido.Message("program_change", program=33, channel=1, time=0),
        mido.Message("note_on", note=40, velocity=80, channel=1, time=0),
        mido.Message("note_on", note=36, velocity=90, channel=9, time=0),
        mido.Message("note_off", note=40, channel=1, time=480),
        mido.Message("note_off", note=36, channel=9, time=0),
        mido.Message("note_on", note=60, velocity=70, channel=0, time=0),
        mido.Message("note_off", note=60, channel=0, time=480),
    ])
    mido.MidiFile(type=0, tracks=[events], ticks_per_beat=480).save(tmp_path / "zero.mid")
    assert read_midi(tmp_path / "zero.mid").tolist() == [[0, 1, 36, 90, DRUMS], [0, 1, 40, 80, 33], [1, 2, 60, 70, 0]]
    write_notes_midi(band(1)[band(1)[:, 4] == DRUMS], tmp_path / "drums.mid")
    (piece,) = MidiFiles(MidiFilesConfig(), tmp_path / "drums.mid").pieces()
    assert set(piece.data[:, 4]) == {DRUMS}


def test_midi_tokens_round_trip_chords_and_melody():
    rep = MidiRepresentation(MidiConfig())
    piece = notes_piece("p", progression(4), 20.0)
    tokens = rep.encode(piece)
    assert tokens[0] == rep.spec.start and tokens[-1] == rep.spec.stop and tokens.max() < rep.spec.size
    names = [rep.tokenizer[int(t)] for t in tokens]
    assert names[:4] == ["BOS_None", "Program_0", "Ensemble_None", "Program_0"]  # the ensemble, then the first note's
    assert names.count("Program_0") == 2  # an instrument is named where it changes
    notes, quarters = rep.decode_notes(tokens)
    assert quarters == 16.0
    assert np.allclose(notes[:, :3], piece.data[:, :3]) and (notes[:, 4] == 0).all()
    assert np.abs(notes[:, 3] - piece.data[:, 3]).max() <= 127 / 8  # velocities, binned


@pytest.mark.parametrize("config", [MidiConfig(), MidiConfig(instruments="families", velocities=5, resolution=3),
                                    MidiConfig(instruments="piano", drums=False, velocities=1, resolution=12)])
def test_midi_events_are_the_tokens_miditok_writes(config):
    """The fast encoder writes what MidiTok's own encode writes for the same score."""
    rng = np.random.default_rng(0)
    loose = notes_array([(s, s + rng.uniform(0.05, 12), rng.integers(0, 128), rng.integers(1, 128), program)
                         for s, program in zip(rng.uniform(0, 60, 400).round(2), rng.choice([0, 0, 5, 33, 48, 128], 400))])
    rep = MidiRepresentation(config)
    for notes in (band(4), progression(3), loose):
        arranged = config.arranged(notes)
        assert rep.events(arranged).tolist() == rep.tokenizer.encode(notes_score(arranged, ticks=config.resolution)).ids


@pytest.mark.parametrize("instruments, drums, programs", [
    ("all", True, {33, 48, 73, DRUMS}),
    ("families", True, {32, 48, 72, DRUMS}),  # each program becomes its family's first
    ("piano", True, {0, DRUMS}),
    ("all", False, {33, 48, 73}),
])
def test_midi_tokens_keep_the_instruments_and_drums_asked_for(instruments, drums, programs):
    rep = MidiRepresentation(MidiConfig(instruments=instruments, drums=drums))
    original = band(4)
    notes, _ = rep.decode_notes(rep.encode(notes_piece("band", original)))
    assert set(notes[:, 4].astype(int)) == programs
    kept = original if drums else original[original[:, 4] != DRUMS]
    assert np.allclose(notes[:, [0, 2]], kept[:, [0, 2]])  # every note at its time and pitch
    assert rep.spec.size < MidiRepresentation(MidiConfig()).spec.size or (instruments, drums) == ("all", True)


def test_midi_generation_keeps_the_order_encode_writes():
    """Every token of an encoded piece is allowed by the event order; a model that
    draws at random under it writes well-formed notes: an instrument, then its pitch
    (a drum's for the drums), velocity and duration; an instrument's chords lowest first."""
    rep = MidiRepresentation(MidiConfig())
    rule = rep.token_rule()
    for token in rep.encode(notes_piece("p", band(4))).tolist()[1:]:
        assert rule.allowed()[token], rep.tokenizer[token]
        rule.feed(token)
    rows = [torch.tensor([rep.spec.start])] * 3
    drawn = generate(Uniform(rep.spec.size), rep.spec, rows, [1.0] * 3, max_length=300, seed=0,
                     device=torch.device("cpu"), rules=[rep.token_rule() for _ in rows]).sequences
    for tokens in drawn:
        names = [rep.tokenizer[t] for t in tokens[1:].tolist()]
        names = names[: names.index("EOS_None")] if "EOS_None" in names else names
        ensemble = names[: names.index("Ensemble_None")]
        assert ensemble and ensemble == sorted(set(ensemble), key=lambda name: int(name.split("_")[1]))
        names = names[len(ensemble) + 1 :]
        assert {name for name in names if name.startswith("Program")} <= set(ensemble)  # the ensemble plays
        kinds = "".join({"Program": "i", "Pitch": "p", "PitchDrum": "p", "Velocity": "v", "Duration": "d",
                         "TimeShift": "s"}[name.split("_")[0]] for name in names).rstrip("ipv")  # a note cut short
        assert kinds.replace("pvd", "").replace("i", "").replace("s", "") == "", kinds
        assert all(before.startswith("Program_-1") == after.startswith("PitchDrum")
                   for before, after in zip(names, names[1:]) if before.startswith("Program"))
        runs, run = [], []  # the pitches of each instrument's notes at one time
        for name in names:
            if name.startswith(("TimeShift", "Program")):
                runs.append(run)
                run = []
            elif name.startswith("Pitch"):
                run.append(int(name.split("_")[1]))
        assert all(r == sorted(set(r)) for r in [*runs, run])
        notes, _ = rep.decode_notes(tokens)
        assert len(notes) == kinds.count("pvd")


def test_asked_instruments_are_the_only_new_ones_a_generation_plays():
    rep = MidiRepresentation(MidiConfig())
    rep.fit([notes_piece("band", band(2)), notes_piece("tune", progression(2))])
    assert rep.played == [0, 33, 48, 73, DRUMS]
    bias, vocab = np.array(rep.spec.bias), rep.tokenizer.vocab  # the output layer starts at the tokens' log frequencies
    assert bias[vocab["Program_33"]] > bias[vocab["Program_34"]] and bias[vocab["Pitch_48"]] > bias[vocab["Pitch_108"]]
    rows = [torch.tensor([rep.spec.start])] * 2 + [rep.encode_notes(band(1), 4.0, whole=False)]  # a band's bar primes one
    drawn = generate(Uniform(rep.spec.size), rep.spec, rows, [1.0] * 3, max_length=300, seed=0, device=torch.device("cpu"),
                     rules=[rep.instrument_rule(["Bass", "drums"]) for _ in rows]).sequences
    continuations = [continuation(rep.decode(tokens, prime_steps=len(row)))[0] for row, tokens in zip(rows, drawn)]
    assert all(set(notes[:, 4].astype(int)) <= {33, DRUMS} for notes in continuations)  # the bass the pieces play
    assert sum(map(len, continuations)) > 10
    with pytest.raises(ConfigError, match="'kazoo' is not a General MIDI family"):
        rep.instrument_rule(["kazoo"])
    with pytest.raises(ConfigError, match="the training pieces play none of them"):
        MidiRepresentation(MidiConfig(instruments="piano", drums=False)).instrument_rule(["drums"])
    families = MidiRepresentation(MidiConfig(instruments="families")).instrument_rule(["violin"])  # learned as strings' first
    assert families.permitted.sum() == 1


class Uniform(torch.nn.Module):
    """A model that thinks every token equally likely."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x, state=None):
        return torch.zeros(*x.shape, self.size), state

    def sharpening(self, state):
        return None

    def compiled_sampler(self, rows):
        return None


def test_midi_tokens_decode_any_stream():
    rep = MidiRepresentation(MidiConfig())
    junk = torch.randint(0, rep.spec.size, (300,), generator=torch.Generator().manual_seed(0))
    notes, quarters = rep.decode_notes(junk)
    assert np.all(notes[:, 1] > notes[:, 0]) and quarters >= (notes[:, 1].max() if len(notes) else 0)


def test_pianoroll_starts_its_output_at_the_keys_base_rates():
    rep = PianorollRepresentation(PianorollConfig())
    rep.fit([notes_piece("p", progression(8))])
    bias = torch.tensor(rep.spec.bias)
    assert bias[48 - LOWEST].item() == pytest.approx(0.0, abs=1e-5)  # the bass C sounds in half the frames
    assert bias[0] < -9  # A0 never
    restored = PianorollRepresentation(PianorollConfig())
    restored.load_state_dict(rep.state_dict())
    assert restored.spec == rep.spec


def test_the_start_prime_is_the_commonest_first_chord_of_the_training_pieces():
    rep = PianorollRepresentation(PianorollConfig())
    assert rep.opening(None).sum() == 0  # nothing learned yet: a silent frame
    rep.fit([notes_piece("a", progression(2)), notes_piece("b", progression(2)), notes_piece("c", progression(2, shift=2))])
    start = rep.opening(None)
    assert start.shape == (1, KEYS)
    assert sorted((start[0].nonzero().flatten() + LOWEST).tolist()) == [48, 52, 55, 72]  # C E G under the melody's C
    restored = PianorollRepresentation(PianorollConfig())
    restored.load_state_dict(rep.state_dict())
    assert torch.equal(restored.opening(None), start)


def test_transposition_keeps_pieces_on_the_piano():
    rep = PianorollRepresentation(PianorollConfig(transpose=[-5, 5]))
    low = notes_piece("low", notes_array([(0, 1, LOWEST + 2, 80)]))
    moved = rep.augment([notes_piece("p", progression(2)), low])
    assert [p.id for p in moved] == ["p~-5", "p~+5", "low~+5"]


def test_transposition_moves_the_pitched_instruments_and_leaves_the_drums():
    original = band(2)
    (up,) = MidiRepresentation(MidiConfig(transpose=[2])).augment([notes_piece("band", original)])
    drums = original[:, 4] == DRUMS
    assert np.array_equal(up.data[drums], original[drums])
    assert np.array_equal(up.data[~drums, 2], original[~drums, 2] + 2)


# -- datasets -------------------------------------------------------------------------
def test_mat_file_gives_its_own_split_and_splits_json_keeps_it(tmp_path):
    write_mat(tmp_path / "songs.mat")
    pieces = list(PianorollMat(PianorollMatConfig(), tmp_path / "songs.mat").pieces())
    train, val, test = split_pieces(pieces, [0.5, 0.25, 0.25], seed=3)
    assert [len(train), len(val), len(test)] == [6, 2, 2]
    assert all(p.id.startswith("test/") for p in test) and all(p.meta["quarters"] == 32 for p in pieces)
    rep = PianorollRepresentation(PianorollConfig())
    assert rep.encode(pieces[0]).shape == (32, KEYS)


def test_mat_file_errors_are_one_clear_line(tmp_path):
    scipy.io.savemat(tmp_path / "half.mat", {"traindata": np.zeros((1, 1), dtype=object)})
    with pytest.raises(DataError, match="no validdata, testdata"):
        list(PianorollMat(PianorollMatConfig(), tmp_path / "half.mat").pieces())
    (tmp_path / "text.mat").write_text("not matlab")
    with pytest.raises(DataError, match="not a readable .mat file"):
        list(PianorollMat(PianorollMatConfig(), tmp_path / "text.mat").pieces())


def test_a_split_given_for_some_pieces_only_is_refused():
    pieces = [Piece("a", None, {"split": "train"}), Piece("b", None, {}), Piece("c", None, {"split": "test"})]
    with pytest.raises(DataError, match="piece b has no split"):
        split_pieces(pieces, [0.8, 0.1, 0.1], seed=0)


def test_midi_folder_skips_an_unreadable_file_and_names_it(tmp_path, caplog):
    write_notes_midi(progression(2), tmp_path / "a.mid")
    (tmp_path / "sub").mkdir()
    write_notes_midi(progression(3), tmp_path / "sub" / "b.midi")
    (tmp_path / "broken.mid").write_bytes(b"MThd not really")
    with caplog.at_level(logging.WARNING, logger="noizenet"):
        pieces = list(MidiFiles(MidiFilesConfig(), tmp_path).pieces())
    assert [p.id for p in pieces] == ["a.mid", "sub/b.midi"]
    assert "broken.mid" in caplog.text
    (tmp_path / "a.mid").unlink()
    (tmp_path / "sub" / "b.midi").unlink()
    with pytest.raises(DataError, match="none of its 1 file"):
        list(MidiFiles(MidiFilesConfig(), tmp_path).pieces())


def test_bach_chorales_are_read_once_then_cached(tmp_path, monkeypatch):
    config = BachChoralesConfig(chorales=2, cache=str(tmp_path))
    first = list(BachChorales(config, None).pieces())
    assert len(first) == 2 and all(len(p.data) > 100 for p in first)
    assert measures(first[0].data, first[0].meta["quarters"])["polyphony"] > 3  # four voices
    monkeypatch.setattr(music21.corpus, "parse", lambda name: pytest.fail("parsed again"))
    again = list(BachChorales(config, None).pieces())
    assert all(np.array_equal(a.data, b.data) for a, b in zip(first, again))


def test_all_bach_chorales_come_once_each(tmp_path, monkeypatch):
    monkeypatch.setattr(music21.corpus, "parse", lambda name: name)
    monkeypatch.setattr(midi_files, "notes_from_score", lambda score: notes_array([(0, 1, 60, 80, 68)]))  # an oboe
    pieces = list(BachChorales(BachChoralesConfig(cache=str(tmp_path)), None).pieces())
    ids = [p.id for p in pieces]
    assert len(ids) == len(set(ids)) == 350  # the corpus's 371 less the 21 it lists twice
    assert {int(p.data[0, 4]) for p in pieces} == {0}  # voices on a piano, as every chorale


# -- measures -------------------------------------------------------------------------
def test_polyphonic_measures_of_a_held_chord_and_a_rest():
    notes = notes_array([(0, 4, 60, 80), (0, 4, 64, 80), (0, 4, 67, 80), (5, 6, 38, 80, DRUMS)])
    found = measures(notes, 8.0)  # the drum is not a pitch
    assert found["polyphony"] == 3 and found["empty_frames"] == 0.5 and found["note_length"] == 4
    assert found["scale_consistency"] == 1.0 and found["pitch_class_entropy"] == pytest.approx(np.log2(3))


def test_instrument_measures_against_held_out_pieces(tmp_path):
    held_out = [notes_piece("real", band(4))]
    strays = notes_array([(0, 1, 100, 80, 33), (0, 1, 60, 80, 12), (1, 2, 37, 80, 33)])  # too high, unknown, fine
    samples = [Sample("s", "song", 1.0, torch.zeros(1), 0, piece=notes_piece("g", strays)),
               Sample("t", "song", 1.0, torch.zeros(1), 0, piece=notes_piece("h", band(1)))]
    context = EvaluationContext(MidiRepresentation(MidiConfig()), samples, [], held_out, tmp_path)
    result = Instruments().per_set(context)
    figures = result.figures
    assert figures["instruments_held_out"] == 4 and figures["with_drums_held_out"] == 1.0
    assert figures["instruments_generated"] == 3 and figures["with_drums_generated"] == 0.5  # median of 2 and 4
    pitched = band(1)[band(1)[:, 4] != DRUMS]
    assert figures["in_range_generated"] == pytest.approx((1 + len(pitched)) / (3 + len(pitched)))
    assert figures["drum_share_held_out"] == pytest.approx(np.mean(band(4)[:, 4] == DRUMS))
    table = result.details["per_instrument"]["held_out"]
    assert table["Electric Bass (finger)"]["lowest"] == band(4)[band(4)[:, 4] == 33, 2].min()
    assert (tmp_path / result.plots["Instruments"]).stat().st_size > 0
    assert Instruments().per_sample(samples[1], context.representation)["programs"] == [
        "Electric Bass (finger)", "String Ensemble 1", "Flute", "Drums"]


# -- whole runs -----------------------------------------------------------------------
def test_pianoroll_run_on_a_mat_file_learns_writes_midi_and_generates_without_the_data(cli, tmp_path):
    write_mat(tmp_path / "songs.mat")
    out = tmp_path / "run"
    tiny = [a for a in TINY_ANY_REPR if a != "-q"]
    tiny[tiny.index("--epochs") + 1] = "30"
    tiny[tiny.index("--hidden") + 1] = "64"
    result = cli("run", "--repr", "pianoroll", "--model", "gru", "--data", tmp_path / "songs.mat", "--out", out,
                 *tiny, "--set", "generate.max_length=24", "--set", "train.patience=0", "-q")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    splits = json.loads((out / "splits.json").read_text())
    assert splits["source"] == "the dataset's own split" and splits["test"] == ["test/0", "test/1"]
    rep = PianorollRepresentation(PianorollConfig())
    pieces = list(PianorollMat(PianorollMatConfig(), tmp_path / "songs.mat").pieces())
    rolls = {split: [rep.encode(p) for p in pieces if p.meta["split"] == split] for split in ("train", "test")}
    assert metrics["test_loss"] < 0.7 * frequency_baseline(rolls["train"], rolls["test"])
    units = {figure["key"]: figure["unit"] for figure in metrics["figures"]}
    assert units["test_loss"] == "nats/frame" and "polyphony_generated" in metrics
    midi = sorted((out / "samples").glob("*.mid"))
    assert len(midi) == 2 and all(p.with_suffix(".wav").exists() and p.with_suffix(".png").exists() for p in midi)
    score = music21.converter.parse(midi[0])
    assert len(score.flatten().notes) > 0
    assert soundfile.info(midi[0].with_suffix(".wav")).frames > 0
    (tmp_path / "songs.mat").unlink()
    again = cli("generate", out, "--prime", "song", "--prime", "noise", "--prime", "perlin", "-n", "1", "-q")
    assert again.exit_code == 0, again.output
    assert {p.stem for p in latest_generation(out).glob("*.mid")} == {"song-t1-00", "noise-t1-00", "perlin-t1-00"}
    steered = cli("generate", out, "--meter", "3/4", "-q")
    assert steered.exit_code == 2 and "representation 'pianoroll' cannot be steered by --meter" in steered.output


def test_midi_run_on_a_folder_writes_polyphonic_midi_and_continues_a_midi_file(cli, tmp_path):
    data = tmp_path / "tunes"
    data.mkdir()
    for i in range(8):
        write_notes_midi(band(6, shift=i % 4), data / f"tune{i}.mid")
    out = tmp_path / "run"
    result = cli("run", "--repr", "midi", "--model", "lstm", "--data", data, "--out", out, *TINY_ANY_REPR,
                 "--set", "generate.max_length=200")
    assert result.exit_code == 0, result.output
    for path in sorted((out / "samples").glob("*.mid")):
        tracks = pretty_midi.PrettyMIDI(str(path)).instruments  # opens in pretty_midi
        music21.converter.parse(path)
        if path.stem.startswith("song"):  # the prime's instruments, each on its own track, the drums on theirs
            assert {33, 48, 73} <= {t.program for t in tracks if not t.is_drum} and any(t.is_drum for t in tracks)
    rows = json.loads((out / "samples" / "samples.json").read_text())["samples"]
    assert all("polyphony" in row and "instruments" in row for row in rows)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["instruments_held_out"] == 4 and (out / "instruments.png").exists()
    mine = tmp_path / "mine.mid"
    write_notes_midi(band(4, shift=2), mine)
    again = cli("generate", out, "--prime-file", mine, "-n", "1", "-q")
    assert again.exit_code == 0, again.output
    generated = read_midi(next(latest_generation(out).glob("*mine*.mid")))
    whole = band(4, shift=2)  # every note of the file primes the sample, on its instrument
    assert all(np.isclose(generated[:, [0, 1, 2, 4]], row[[0, 1, 2, 4]]).all(axis=1).any() for row in whole)
    (sample,) = json.loads((latest_generation(out) / "samples.json").read_text())["samples"]
    asked = cli("generate", out, "--instruments", "bass,drums", "-n", "2", "-q")
    assert asked.exit_code == 0, asked.output
    for path in latest_generation(out).glob("*.mid"):
        assert {t.program for t in pretty_midi.PrettyMIDI(str(path)).instruments if not t.is_drum} <= {33}
    refused = cli("generate", out, "--instruments", "kazoo", "-q")
    assert refused.exit_code == 2 and "'kazoo' is not a General MIDI family" in refused.output
    cut = cli("generate", out, "--prime-file", mine, "--prime-bars", "1", "-n", "1", "-q")
    assert cut.exit_code == 0, cut.output
    (first_bar,) = json.loads((latest_generation(out) / "samples.json").read_text())["samples"]
    assert 0 < first_bar["prime_steps"] < sample["prime_steps"] / 3  # a bar of 4
