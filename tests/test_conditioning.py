"""Conditions (issue 23): every built-in model takes one, training drops it to the
neutral zeros, guidance mixes the conditioned and unconditioned outputs in the eager
and the compiled samplers alike, and codebook, harmonic and waveform audio condition
on pitch classes and make an asked key the model does not follow in the nearest one
it does, then move the samples there."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch
from conftest import in_key, latest_generation
from typer.testing import CliRunner

from noizenet.cli import app
from noizenet.data.conditioning import correlation
from noizenet.config import ConfigError, GenerateConfig, TrainConfig
from noizenet.generate.generator import generate
from noizenet.runs import pipeline as runs
from noizenet.plugin.interfaces import EvaluationContext, OutputSpec, Piece, PrimeContext, Sample
from noizenet.plugin.kinds import Categorical, Continuous
from noizenet.plugins.audio.codebook import CodebookConfig, CodebookRepresentation
from noizenet.plugins.audio.harmonic import HarmonicConfig, HarmonicRepresentation
from noizenet.plugins.audio.waveform import WaveformConfig, WaveformRepresentation
from noizenet.plugins.audio.keys import (PITCH_CLASSES, detect_key, key_name, key_profile, mirex_score, nearest,
                                         parse_key)
from noizenet.plugins.audio.measures import pitch_class_profile
from noizenet.plugins.audio.metrics import TonalityMetric
from noizenet.plugins.models.crnn import Crnn, CrnnConfig
from noizenet.plugins.models.recurrent import RecurrentConfig, RecurrentNet
from noizenet.plugins.models.samplernn import SampleRnnConfig, TwoTier
from noizenet.plugins.primes import CrossedPrime
from noizenet.runs.rundir import RunDir
from noizenet.generate.stand_ins import PROBES
from noizenet.train.trainer import Trainer
from noizenet.train.windows import make_windows

CPU = torch.device("cpu")
TOKENS = OutputSpec(Categorical(), 8, condition=3)
FRAMES = OutputSpec(Continuous(), 6, condition=3)


def built(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "crnn":
        return Crnn(FRAMES, CrnnConfig(hidden=16, channels=4, kernel=3, pooled=2))
    if name == "samplernn":
        return TwoTier(TOKENS, SampleRnnConfig(frame=4, frame_hidden=16, sample_embedding=4, mlp=16, sharpen=0.0))
    return RecurrentNet(name, TOKENS, RecurrentConfig(hidden=16, layers=2, embedding=8))


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "crnn", "samplernn"])
def test_a_condition_reaches_every_built_in_model_and_none_is_the_zero_condition(name):
    net = built(name).eval()
    x = torch.randn(2, 9, 6) if name == "crnn" else torch.randint(0, 8, (2, 9))
    condition = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])[:, None].expand(-1, 9, -1)
    with torch.no_grad():
        plain, _ = net(x)
        zero, _ = net(x, condition=torch.zeros_like(condition))
        conditioned, _ = net(x, condition=condition)
    assert torch.allclose(plain, zero)
    assert not torch.allclose(plain, conditioned, atol=1e-4)


def test_windows_give_each_step_its_own_pieces_condition_in_both_layouts():
    pieces = [torch.full((n,), j, dtype=torch.long) for j, n in enumerate([30, 7, 19, 44, 12])]
    conditions = torch.arange(5, dtype=torch.float32)[:, None].repeat(1, 2)  # piece j: (j, j)
    for layout in ("pieces", "stream"):
        windows = make_windows(layout, pieces, batch_size=2, seq_len=8, seed=0, conditions=conditions)
        for window in windows.epoch(0):
            steps = window.mask if window.mask is not None else torch.ones(window.x.shape, dtype=torch.bool)
            assert window.condition.shape == (*window.x.shape, 2)
            assert torch.equal(window.condition[..., 0][steps], window.x[steps].float())  # each step's piece


def test_condition_dropout_is_a_share_of_one_and_guidance_not_negative():
    with pytest.raises(ConfigError, match="train.condition_dropout"):
        TrainConfig(condition_dropout=1.5)
    with pytest.raises(ConfigError, match="generate.guidance"):
        GenerateConfig(guidance=-1.0)


def conditioned_model(name: str) -> torch.nn.Module:
    """``name``'s toy model (lstm or samplernn, each with a compiled sampler) whose condition moves the prediction a lot."""
    net = built(name)
    with torch.no_grad():
        net.condition.project.weight.mul_(20.0)
    return net.eval()


@pytest.mark.parametrize("name", ["lstm", "samplernn"])
@pytest.mark.parametrize("compiled", [False, True])
def test_guidance_zero_is_the_unconditioned_prediction(compiled, name):
    net = conditioned_model(name)
    primes = [torch.tensor([0, 3]), torch.tensor([0])]
    conditions = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]])
    plain = generate(net, TOKENS, primes, [1.0, 1.0], max_length=30, seed=5, device=CPU, compiled=compiled)
    guided = generate(net, TOKENS, primes, [1.0, 1.0], max_length=30, seed=5, device=CPU, compiled=compiled,
                      conditions=conditions, guidance=0.0)
    conditioned = generate(net, TOKENS, primes, [1.0, 1.0], max_length=30, seed=5, device=CPU, compiled=compiled,
                           conditions=conditions, guidance=1.0)
    assert all(torch.equal(a, b) for a, b in zip(plain.sequences, guided.sequences))
    assert not all(torch.equal(a, b) for a, b in zip(plain.sequences, conditioned.sequences))


@pytest.mark.parametrize("name", ["lstm", "samplernn"])
@pytest.mark.parametrize("guidance", [1.0, 0.5, 3.0])
def test_compiled_and_eager_samplers_agree_with_guidance_on(guidance, name):
    """Argmax generation (temperature 0) is deterministic: both paths pick the same tokens,
    and each step's pick is the argmax of uncond + g * (cond - uncond) over the whole prefix."""
    net = conditioned_model(name)
    primes = [torch.tensor([0, 3, 5]), torch.tensor([0])]
    conditions = torch.tensor([[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]])
    runs = [generate(net, TOKENS, primes, [0.0, 0.0], max_length=25, seed=0, device=CPU, compiled=compiled,
                     conditions=conditions, guidance=guidance).sequences for compiled in (False, True)]
    assert net.compiled_sampler(2) is not None
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    row, condition = runs[0][0], conditions[:1, None]
    with torch.no_grad():
        for t in range(3, len(row)):
            cond, _ = net(row[None, :t], condition=condition.expand(-1, t, -1))
            uncond, _ = net(row[None, :t])
            assert int((uncond + guidance * (cond - uncond))[0, -1].argmax()) == int(row[t])


def test_a_trained_toy_model_follows_its_condition():
    """Pieces of token 2 come with condition (1, 0, 0), pieces of token 5 with (0, 1, 0):
    primed with nothing but the start token, each condition gives its own token."""
    torch.manual_seed(0)
    net = RecurrentNet("gru", TOKENS, RecurrentConfig(hidden=16, layers=1, embedding=8, dropout=0.0))
    pieces = [torch.tensor([0] + [2 if j % 2 == 0 else 5] * 20) for j in range(8)]
    conditions = torch.tensor([[1.0, 0.0, 0.0] if j % 2 == 0 else [0.0, 1.0, 0.0] for j in range(8)])
    windows = make_windows("pieces", pieces, batch_size=8, seq_len=10, seed=0, conditions=conditions)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.03)
    for epoch in range(40):
        for window in windows.epoch(epoch):
            out, _ = net(window.x, condition=window.condition)
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, 8), window.y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    asked = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    rows = generate(net, TOKENS, [torch.tensor([0])] * 2, [1.0, 1.0], max_length=20, seed=0, device=CPU,
                    conditions=asked).sequences
    assert (rows[0][1:] == 2).float().mean() > 0.9
    assert (rows[1][1:] == 5).float().mean() > 0.9


def test_keys_parse_detect_and_score_as_mirex_does():
    assert parse_key("E minor") == parse_key("Em") == (4, "minor")
    assert parse_key("Bb") == (10, "major") and parse_key("f#m") == (6, "minor")
    with pytest.raises(ConfigError, match="not a key"):
        parse_key("H major")
    for key in [(0, "major"), (9, "minor"), (6, "major")]:
        assert detect_key(key_profile(key)) == key
    assert key_name((10, "major")) == "A# major"
    assert mirex_score((0, "major"), (0, "major")) == 1.0
    assert mirex_score((7, "major"), (0, "major")) == 0.5  # a fifth
    assert mirex_score((9, "minor"), (0, "major")) == 0.3  # relative
    assert mirex_score((0, "minor"), (0, "major")) == 0.2  # parallel
    assert mirex_score((1, "major"), (0, "major")) == 0.0


def test_codebook_conditions_a_piece_on_the_pitch_classes_it_sounds():
    rate = 16000
    t = np.arange(rate * 2) / rate
    tones = {"A": 440.0, "C": 261.63, "E": 329.63}
    audio = {name: (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for name, f in tones.items()}
    codebook = CodebookRepresentation(CodebookConfig(codes=8))
    codebook.sample_rate = rate
    codebook.fit_audio(list(audio.values()))
    assert codebook.spec.condition == 12
    for name, clip in audio.items():
        profile = codebook.condition(codebook.to_steps(clip))
        assert ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"][int(profile.argmax())] == name
        assert abs(float(profile.mean())) < 1e-5 and abs(float(profile.std()) - 1) < 1e-4
    asked = codebook.asked_condition({"key": "E minor"})
    assert detect_key(asked) == (4, "minor")
    assert codebook.asked_condition({"meter": "6/8"}) is None
    assert CodebookRepresentation(CodebookConfig(pitch_condition=False)).spec.condition == 0


def test_harmonic_conditions_a_piece_on_the_notes_it_hears():
    rate = 16000
    t = np.arange(rate // 2) / rate
    notes = {"A": 440.0, "C": 261.63, "E": 329.63}  # an A minor arpeggio: A twice as long
    audio = np.concatenate([0.3 * np.sin(2 * np.pi * notes[n] * t) for n in "ACEA"]).astype(np.float32)
    harmonic = HarmonicRepresentation(HarmonicConfig())
    harmonic.sample_rate = rate
    harmonic.fit_audio([audio])
    profile = harmonic.condition(harmonic.to_steps(audio))
    top = [PITCH_CLASSES[i] for i in np.argsort(profile)[::-1][:3]]
    assert harmonic.spec.condition == 12 and top[0] == "A" and set(top[1:]) == {"C", "E"}
    assert harmonic.steered_by() == ("key",) and detect_key(harmonic.asked_condition({"key": "Am"})) == (9, "minor")
    silent = harmonic.to_steps(np.zeros(rate, np.float32))
    assert not harmonic.condition(silent).any()  # no note: the neutral condition
    assert HarmonicRepresentation(HarmonicConfig(pitch_condition=False)).steered_by() == ()


def test_waveform_conditions_a_piece_on_the_pitch_classes_it_sounds():
    rate = 16000
    t = np.arange(rate) / rate
    tones = {"A": 440.0, "C": 261.63, "E": 329.63}
    for encoding in ("mulaw", "zscore"):
        waveform = WaveformRepresentation(WaveformConfig(encoding=encoding, pitch_condition=True))
        waveform.sample_rate = rate
        clips = {name: (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for name, f in tones.items()}
        waveform.fit_audio(list(clips.values()))
        assert waveform.spec.condition == 12 and waveform.steered_by() == ("key",)
        for name, clip in clips.items():
            profile = waveform.condition(waveform.to_steps(clip))
            assert PITCH_CLASSES[int(profile.argmax())] == name
    assert not waveform.condition(waveform.to_steps(np.zeros(100, np.float32))).any()  # silence: neutral
    assert detect_key(waveform.asked_condition({"key": "D major"})) == (2, "major")
    assert WaveformRepresentation(WaveformConfig()).spec.condition == 0  # off by default


@pytest.mark.parametrize("dropout", [0.0, 0.5, 1.0])
def test_training_drops_the_condition_of_a_share_of_the_rows(tmp_path, dropout):
    """The condition reaches the model in 1 - condition_dropout of the rows, zeros in the rest."""
    pieces = [torch.randint(2, 8, (40,), generator=torch.Generator().manual_seed(i)) for i in range(16)]
    conditions = torch.ones(16, 3)
    net = RecurrentNet("gru", TOKENS, RecurrentConfig(hidden=8, layers=1, embedding=4))
    seen = []
    net.condition.register_forward_hook(lambda module, inputs, output: seen.append(inputs[1]) if inputs[1] is not None else None)
    trainer = Trainer(
        model=net, spec=TOKENS, val_conditions=conditions[:2], val_encoded=pieces[:2],
        windows=make_windows("pieces", pieces, batch_size=16, seq_len=8, seed=0, conditions=conditions),
        cfg=TrainConfig(epochs=2, max_minutes=60, patience=0, condition_dropout=dropout), run_dir=RunDir(tmp_path),
        device=CPU, checkpoint_extra={}, quiet=True,
    )
    trainer.fit()
    training = [c for c in seen if c.shape[0] == 16]  # the training windows' (validation scores 2 pieces)
    kept = torch.cat([c[:, 0, 0] for c in training])
    assert set(kept.tolist()) <= {0.0, 1.0} and len(kept) >= 16 * 8
    assert abs(float(kept.mean()) - (1 - dropout)) < 0.1
    assert all(c.shape[0] == 2 and bool((c == 1).all()) for c in seen if c.shape[0] != 16)  # validation: all kept


def test_a_codebook_checkpoint_from_before_conditions_restores_without_them():
    codebook = CodebookRepresentation(CodebookConfig(codes=8))
    state = codebook.state_dict()
    assert state["pitch_condition"] is True
    old = {k: v for k, v in state.items() if k != "pitch_condition"}
    restored = CodebookRepresentation(CodebookConfig(codes=8))
    restored.load_state_dict(old)
    assert restored.spec.condition == 0
    restored.load_state_dict(state)
    assert restored.spec.condition == 12


RATE = 16000


def key_of(audio: np.ndarray) -> tuple[int, str] | None:
    return detect_key(pitch_class_profile(audio, RATE))


def test_an_asked_key_offers_every_key_of_its_mode_nearest_first_and_scores_a_probe_by_its_key():
    codebook = CodebookRepresentation(CodebookConfig(codes=8))
    ways = codebook.stand_ins({"key": "F major"})
    assert ways[:5] == [({"key": "F major"}, 0), ({"key": "E major"}, 1), ({"key": "F# major"}, -1),
                        ({"key": "D# major"}, 2), ({"key": "G major"}, -2)]
    assert len(ways) == 12 and {w["key"].split()[1] for w, _ in ways} == {"major"}
    assert all(nearest(parse_key(w["key"])[0] + shift - 5) == 0 for w, shift in ways)  # each moved to F
    assert CodebookRepresentation(CodebookConfig(codes=8, borrow_keys=False)).stand_ins({"key": "F major"}) == []
    in_d = Piece("d", np.concatenate([np.zeros(RATE // 2, np.float32), in_key(5, 0, 3.0)]),
                 {"sample_rate": RATE, "prime_samples": RATE // 2})  # A 220 Hz + 5 semitones: D major
    assert codebook.follows({"key": "D major"}, in_d) == 1.0 and codebook.follows({"key": "A major"}, in_d) == 0.5
    assert codebook.follows({"key": "F major"}, in_d) == 0.0
    moved = codebook.transpose(Piece("c", in_key(3, 7, 3.0), {"sample_rate": RATE}), 2)  # C major, 2 up
    assert key_of(moved.data) == (2, "major") and len(moved.data) == 3 * 10 * RATE // 8


def test_harmonic_moves_its_notes_with_its_audio():
    harmonic = HarmonicRepresentation(HarmonicConfig())
    top = harmonic.tokens - 1  # the highest note, struck
    piece = Piece("c", in_key(3, 1, 2.0), {"sample_rate": RATE, "pitch_tokens": [0, 1, 2, top]})
    moved = harmonic.transpose(piece, 2)
    assert moved.meta["pitch_tokens"] == [0, 5, 6, 0]  # two semitones up; above the highest note: unvoiced
    assert len(moved.data) == len(piece.data) and not np.array_equal(moved.data, piece.data)


@pytest.fixture(scope="module")
def melodies_run(tmp_path_factory) -> Path:
    """A tiny codebook run on twelve 3 s melodies in C#, D, G and Bb major, four of
    them held out (song and crossed primes)."""
    folder = tmp_path_factory.mktemp("melodies")
    data = folder / "data"
    data.mkdir()
    for i, tonic in enumerate((10, 10, 10, 5, 5, 10, 4, 4, 4, 1, 1, 1)):  # G, D, C# and Bb major
        soundfile.write(data / f"tune{i:02d}.wav", in_key(tonic, i, 3.0), RATE)
    out = folder / "run"
    trained = CliRunner().invoke(app, [str(a) for a in (
        "train", "--data", data, "--out", out, "--repr", "codebook", "--model", "lstm", "--hidden", "32", "--layers",
        "1", "--epochs", "2", "--seq-len", "64", "--batch-size", "8", "--set", "repr.codes=16", "--set",
        "train.split=[0.5, 0.17, 0.33]", "-q")],
        catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    return out


def test_a_key_the_model_does_not_follow_is_made_in_the_nearest_it_follows_and_moved(cli, melodies_run, monkeypatch):
    out = melodies_run
    probed = []

    def follows(self, steering, piece):  # a model that follows G major alone
        probed.append(steering["key"])
        return 1.0 if steering["key"] == "G major" else 0.0

    monkeypatch.setattr(CodebookRepresentation, "follows", follows)
    made = cli("generate", out, "--key", "F major", "--prime", "noise", "--seconds", "1", "-n", "2", "-q")
    assert made.exit_code == 0, made.output
    assert len(probed) == 12 * PROBES and probed[:PROBES] == ["F major"] * PROBES
    rows = json.loads((latest_generation(out) / "samples.json").read_text())["samples"]
    assert [(r["asked"], r["transposed"]) for r in rows] == [({"key": "F major"}, -2)] * 2  # made in G, 2 down
    session = runs.session_from_run(RunDir(out), {}, quiet=True)
    runs.load_trained(session)  # the representation's state: samples decode with it
    for sample in runs.saved_generation(session, latest_generation(out)).samples:
        written, _ = soundfile.read(latest_generation(out) / f"{sample.name}.wav", dtype="float32")
        assert sample.transposed == -2 and np.abs(written - sample.piece.data).max() < 1e-3  # moved again, as written
    monkeypatch.setattr(CodebookRepresentation, "follows",  # followed nowhere: the best-followed key, A major
                        lambda self, steering, piece: 0.5 if steering["key"] == "A major" else 0.1)
    assert cli("generate", out, "--key", "F major", "--prime", "noise", "--seconds", "1", "-n", "1", "-q").exit_code == 0
    (row,) = json.loads((latest_generation(out) / "samples.json").read_text())["samples"]
    assert row["transposed"] == -4
    monkeypatch.setattr(CodebookRepresentation, "follows", lambda self, steering, piece: 1.0)
    assert cli("generate", out, "--key", "F major", "--prime", "noise", "--seconds", "1", "-n", "1", "-q").exit_code == 0
    (row,) = json.loads((latest_generation(out) / "samples.json").read_text())["samples"]
    assert "transposed" not in row  # followed as asked: not moved


def test_a_crossed_prime_feeds_the_condition_of_another_opening_among_the_least_like_its_own():
    """Openings stating one of four conditions: each crossed prime's continuation
    is fed another opening's, from the quarter least like its own."""
    states = np.eye(4, 3) + np.array([[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 0]])  # x, y, z, x+y
    openings = [torch.tensor([i % 4]) for i in range(16)]
    stub = SimpleNamespace(name="stub", spec=OutputSpec(Categorical(), 4, condition=3),
                           condition=lambda encoded: states[int(encoded[0])])
    context = PrimeContext(openings=openings, rng=np.random.default_rng(0))
    prime = CrossedPrime()
    primes = prime.make(stub, context, 8)
    sources = prime.condition_sources(stub, context, primes)
    for own, fed in zip(primes, sources):
        assert fed is not own and any(fed is o for o in openings)
        alike = sorted(correlation(states[int(own[0])], states[int(o[0])]) for o in openings if o is not own)
        assert correlation(states[int(own[0])], states[int(fed[0])]) <= alike[len(alike) // 4 - 1]
    assert prime.applies_to(stub) and not prime.applies_to(SimpleNamespace(spec=OutputSpec(Categorical(), 4)))


def crossed_sample(name: str, prime_tonic: int, fed_tonic: int, heard_tonic: int) -> Sample:
    """A 1 s prime in the major key on ``prime_tonic`` (semitones above A), fed the
    profile of the one on ``fed_tonic``, continued for 2 s in ``heard_tonic``'s."""
    prime, heard = in_key(prime_tonic, 1, 1.0), in_key(heard_tonic, 2, 2.0)
    audio = np.concatenate([prime, heard])
    piece = Piece(name, audio, {"sample_rate": RATE, "prime_samples": len(prime)})
    fed = pitch_class_profile(in_key(fed_tonic, 3, 1.0), RATE)
    return Sample(name, "crossed", 1.0, torch.from_numpy(audio), len(prime), piece, condition=fed.tolist())


def test_tonality_tells_a_continuation_that_follows_its_fed_condition_from_one_that_keeps_its_prime():
    heard = SimpleNamespace(condition=lambda encoded: pitch_class_profile(np.asarray(encoded), RATE))
    samples = [crossed_sample("follows", 10, 4, 4), crossed_sample("keeps", 10, 4, 10)]  # G major fed C# major
    real = [Piece("real", in_key(0, 5, 2.0), {"sample_rate": RATE})]
    result = TonalityMetric().per_set(EvaluationContext(heard, samples, [], real, None))
    rows = {row["name"]: row for row in result.details["key_crossed"]}
    assert rows["follows"]["fed"] > 0.6 > rows["follows"]["prime"]
    assert rows["keeps"]["prime"] > 0.6 > rows["keeps"]["fed"]
    assert result.figures["key_crossed_follows"] == 0.5 and result.figures["key_crossed_pair"] < 0.3
    assert result.figures["key_crossed_mirex_fed"] == result.figures["key_crossed_mirex_prime"] == 0.5


def test_crossed_continuations_record_the_condition_they_were_fed_and_are_scored_on_it(cli, melodies_run):
    made = cli("generate", melodies_run, "--prime", "crossed", "--seconds", "1", "-n", "3", "-q")
    assert made.exit_code == 0, made.output
    folder = latest_generation(melodies_run)
    session = runs.session_from_run(RunDir(melodies_run), {}, quiet=True)
    trained = runs.load_trained(session)
    openings = [session.representation.condition(o) for o in runs.prime_openings(session, trained)]
    samples = runs.saved_generation(session, folder).samples
    assert [s.prime for s in samples] == ["crossed"] * 3
    for sample in samples:
        own = session.representation.condition(sample.encoded[: sample.prime_steps])
        assert any(np.allclose(sample.condition, o, atol=1e-3) for o in openings)  # another opening's
        assert correlation(own, np.asarray(sample.condition)) < 0.9
    assert cli("evaluate", melodies_run, "--generations", folder.name, "-q").exit_code == 0
    figures = json.loads((folder / "metrics.json").read_text())
    assert 0 <= figures["key_crossed_follows"] <= 1 and figures["key_crossed_pair"] is not None


def test_a_crossed_prime_on_a_representation_without_conditions_is_one_clear_error(cli, trained_run):
    result = cli("generate", trained_run, "--prime", "crossed", "-n", "1")
    assert result.exit_code == 2 and "prime 'crossed' does not apply to representation 'abc'" in result.output
