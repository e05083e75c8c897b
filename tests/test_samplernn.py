"""The two-tier SampleRNN model: causal, chunk-invariant, the compiled sampler equal
to the eager model, LPCNet's sharpening where the output is periodic, and a run."""

import json

import numpy as np
import pytest
import soundfile
import torch
from test_audio import AUDIO_TINY, RATE, melody

from noizenet.errors import ConfigError
from noizenet.generate.generator import generate
from noizenet.plugin.interfaces import OutputSpec
from noizenet.plugin.kinds import Categorical, Continuous
from noizenet.plugins.models.samplernn import SampleRnnConfig, TwoTier, periodicity
from noizenet.plugins.models.two_tier_sampler import _periodicity

SPEC = OutputSpec(Categorical(), 256)
CPU = torch.device("cpu")


def small(**options) -> TwoTier:
    torch.manual_seed(0)
    return TwoTier(SPEC, SampleRnnConfig(frame=8, frame_hidden=32, frame_layers=2, mlp=32, **options)).eval()


def test_outputs_do_not_depend_on_how_the_sequence_is_cut_nor_on_the_future():
    model = small()
    x = torch.randint(0, 256, (3, 100))
    whole, _ = model(x)
    parts, state = [], None
    for start, end in [(0, 7), (7, 8), (8, 40), (40, 41), (41, 100)]:  # block ends fall inside, at and between cuts
        y, state = model(x[:, start:end], state)
        parts.append(y)
    torch.testing.assert_close(torch.cat(parts, 1), whole)
    changed = x.clone()
    changed[:, 50] = (changed[:, 50] + 7) % 256
    after, _ = model(changed)
    torch.testing.assert_close(after[:, :50], whole[:, :50])  # the past does not see sample 50
    assert not torch.allclose(after[:, 50:], whole[:, 50:])


def test_a_row_reset_starts_again_from_the_zero_state():
    model = small()
    x = torch.randint(0, 256, (2, 30))
    _, state = model(x)
    fresh, _ = model(x[:1, :5])
    state = model.reset_state(state, torch.tensor([True, False]))
    # the state's block position runs on (30 % 8); a fresh row's history is silence again
    assert torch.equal(state[1][0], torch.full_like(state[1][0], model.pad)) and state[3] == 30 % 8
    assert not torch.equal(state[1][1], torch.full_like(state[1][1], model.pad))


def test_the_compiled_sampler_generates_what_the_eager_model_does():
    model = small()
    primes = [torch.randint(0, 256, (37,)), torch.randint(0, 256, (20,))]
    runs = [generate(model, SPEC, primes, [0.0, 0.0], max_length=150, seed=0, device=CPU, compiled=c) for c in (True, False)]
    assert model.compiled_sampler(1) is not None
    assert all(torch.equal(a, b) for a, b in zip(runs[0].sequences, runs[1].sequences, strict=True))


def test_periodicity_is_one_for_a_tone_and_low_for_noise_in_both_samplers():
    t = np.arange(1000)
    tone = (128 + 100 * np.sin(2 * np.pi * t / 50)).astype(np.int64)
    noise = np.random.default_rng(0).integers(0, 256, 1000)
    for signal, low, high in ((tone, 0.99, 1.0), (noise, 0.0, 0.3)):
        eager = float(periodicity(torch.from_numpy(signal)[None], 128))
        assert low <= eager <= high
        assert _periodicity(signal, len(signal) - 1, 128, 8, 256, 320) == pytest.approx(eager, abs=1e-5)


def test_sampling_sharpens_where_the_output_is_periodic_and_not_when_off():
    tone = torch.from_numpy((128 + 100 * np.sin(2 * np.pi * np.arange(800) / 50)).astype(np.int64))
    model = small(sharpen=2.0)
    _, state = model(tone[None])
    assert model.sharpening(state).item() == pytest.approx(3.0, abs=0.01)  # 1 + 2 x periodicity 1
    assert small(sharpen=0.0).sharpening(state) is None
    model.train()
    _, state = model(tone[None])
    assert state[4].item() == 1.0  # training never measures it


def test_the_model_refuses_frame_representations():
    with pytest.raises(ConfigError, match="samplernn"):
        TwoTier(OutputSpec(Continuous(), 4), SampleRnnConfig())


def test_a_waveform_run_with_samplernn_learns_and_writes_audio(cli, tmp_path):
    data = tmp_path / "audio"
    data.mkdir()
    for i in range(6):
        soundfile.write(data / f"tune{i}.wav", melody(i, 1.0), RATE)
    out = tmp_path / "run"
    tiny = [*AUDIO_TINY[4:], "--set", "model.frame_hidden=32", "--set", "model.mlp=32", "--seconds", "0.25", "--epochs", "2"]
    assert AUDIO_TINY[:4] == ["--hidden", "32", "--layers", "1"]  # the recurrent models' names: not this model's
    result = cli("run", "--repr", "waveform", "--model", "samplernn", "--data", data, "--out", out, *tiny)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["val_loss"] < records[0]["val_loss"]
    wavs = sorted((out / "samples").glob("*.wav"))
    assert len(wavs) == 6 and all(soundfile.info(w).duration > 0.25 for w in wavs)  # 3 primes x 2
    wrong = cli("run", "--repr", "fft", "--model", "samplernn", "--data", data, "--out", tmp_path / "b", *tiny)
    assert wrong.exit_code == 2 and "samplernn" in wrong.output and "Traceback" not in wrong.output
    hint = cli("run", "--repr", "waveform", "--model", "samplernn", "--data", data, "--out", tmp_path / "c", *AUDIO_TINY)
    assert hint.exit_code == 2 and "frame_hidden" in hint.output
