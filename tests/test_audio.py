"""The audio half: waveform and FFT representations, audio data, primes, collapse
statistics, and whole runs through the CLI."""

import json
import logging
import shutil
import warnings
from pathlib import Path

import librosa
import music21
import numpy as np
import pytest
import soundfile
import torch
from conftest import TINY, in_key, latest_generation

from noizenet.serve.composer import Composer, GenerateRequest, Limits
from noizenet.datasets.audio_files import AudioFiles, AudioFilesConfig, Music21Audio, Music21AudioConfig
from noizenet.errors import ConfigError, DataError, NoizenetError
from noizenet.plugin.interfaces import EvaluationContext, OutputSpec, Piece, PrimeContext, Sample
from noizenet.plugin.kinds import Categorical, Continuous
from noizenet.plugins.abc.representation import AbcConfig, AbcRepresentation
from noizenet.plugins.abc.text import parse_abc
from noizenet.plugins.audio import measures
from noizenet.plugins.audio.chroma import ChromaConfig, ChromaRepresentation
from noizenet.plugins.audio import codebook
from noizenet.plugins.audio.codebook import CodebookConfig, CodebookRepresentation
from noizenet.plugins.audio.fft import FftConfig, FftRepresentation
from noizenet.plugins.audio.harmonic import HarmonicConfig, HarmonicRepresentation
from noizenet.plugins.audio.token_frame import TokenAndFrame
from noizenet.plugins.audio.metrics import AudioQuality, Collapse, TonalityMetric
from noizenet.plugins.audio.motion import Motion
from noizenet.plugins.audio.stft import periodic_hann
from noizenet.plugins.audio.waveform import WaveformConfig, WaveformRepresentation
from noizenet.plugins.models.crnn import Crnn, CrnnConfig
from noizenet.plugins.primes import NoisePrime, PerlinPrime, perlin

RATE = 16000
AUDIO_TINY = [
    "--hidden", "32", "--layers", "1", "--epochs", "1", "--set", "train.val_every=0.5", "--seq-len", "256", "--batch-size", "8",
    "--num-samples", "2", "--seed", "0", "-q",
]


def melody(seed: int, seconds: float = 2.0) -> np.ndarray:
    """A plucked melody: a new random pitch every 0.25 s, decaying, with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.25 * RATE)) / RATE
    notes = [np.sin(2 * np.pi * 220 * 2 ** (rng.integers(0, 12) / 12) * t) * np.exp(-4 * t) for _ in range(int(seconds * 4))]
    return (0.5 * np.concatenate(notes) + 0.01 * rng.normal(size=len(notes) * len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    for i in range(8):
        soundfile.write(folder / f"tune{i}.wav", melody(i), RATE)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    return folder


def piece(seed: int = 0) -> Piece:
    return Piece("a", melody(seed), {"sample_rate": RATE})


# -- representations ------------------------------------------------------------------
def test_mulaw_round_trip_is_within_quantization_error():
    rep = WaveformRepresentation(WaveformConfig())
    rep.fit([piece()])
    encoded = rep.encode(piece())
    assert encoded.dtype == torch.int64 and int(encoded.min()) >= 0 and int(encoded.max()) < 256
    decoded = rep.decode(encoded).data
    # within one quantization step of 8-bit mu-law, measured where it is uniform
    step = 2 / 256
    compressed = [librosa.mu_compress(a, mu=255, quantize=False) for a in (decoded, piece().data)]
    assert np.abs(compressed[0] - compressed[1]).max() <= step
    assert np.abs(decoded - piece().data).mean() < 0.005


def test_pre_emphasis_round_trip_keeps_the_audio_and_shapes_the_quantization_noise():
    plain, emphasised = (WaveformRepresentation(WaveformConfig(pre_emphasis=a)) for a in (0.0, 0.85))
    audio = 0.5 * piece().data
    errors = []
    for rep in (plain, emphasised):
        rep.fit([Piece("a", audio, {"sample_rate": RATE})])
        errors.append(rep.decode(rep.encode(Piece("a", audio, {"sample_rate": RATE}))).data - audio)
    assert np.abs(errors[1]).mean() < 0.01
    high = [np.abs(np.fft.rfft(e))[len(e) // 4 :].mean() for e in errors]  # above 4 kHz
    assert high[1] < 0.7 * high[0]  # de-emphasis low-passes the quantization noise


@pytest.mark.parametrize("encoding", ["zscore", "minmax"])
def test_scaled_waveform_round_trip_and_the_scaler_travels_in_the_state(encoding):
    rep = WaveformRepresentation(WaveformConfig(encoding=encoding))
    rep.fit([piece()])
    encoded = rep.encode(piece())
    assert encoded.shape == (len(piece().data), 1) and rep.spec.kind == Continuous()
    restored = WaveformRepresentation(WaveformConfig(encoding=encoding))
    restored.load_state_dict(rep.state_dict())
    np.testing.assert_allclose(restored.decode(encoded).data, piece().data, atol=1e-6)


@pytest.mark.parametrize("size", [1024, 255])
def test_the_stft_window_is_librosas_periodic_hann(size):
    assert np.abs(periodic_hann(size) - librosa.filters.get_window("hann", size, fftbins=True)).max() < 1e-12


@pytest.mark.parametrize("length", [16000, 16001, 700])
def test_fft_round_trip_is_exact(length):
    rep = FftRepresentation(FftConfig())
    audio = np.random.default_rng(length).uniform(-1, 1, length).astype(np.float32)
    rep.fit([Piece("a", audio, {"sample_rate": RATE})])
    encoded = rep.encode(Piece("a", audio, {"sample_rate": RATE}))
    assert encoded.shape[1] == 1026 and abs(float(encoded.mean())) < 0.1
    restored = FftRepresentation(FftConfig())
    restored.load_state_dict(rep.state_dict())
    decoded = restored.decode(encoded).data
    assert np.abs(decoded[:length] - audio).max() < 1e-4


def test_fft_magnitude_features_decode_to_audio_of_the_same_length_and_level():
    rep = FftRepresentation(FftConfig(features="magnitude"))
    rep.fit([piece()])
    decoded = rep.decode(rep.encode(piece())).data
    assert rep.spec.size == 513 and len(decoded) >= len(piece().data)
    assert 0.5 < measures.rms(decoded) / measures.rms(piece().data) < 2


def notes(audio: np.ndarray) -> list[int]:
    """The MIDI note pyin hears at the loud start of each 0.25 s note of :func:`melody`."""
    track = measures.tonality(audio, RATE)
    per_note = 0.25 * RATE / measures.PITCH_HOP  # pitch frames per note
    return [int(np.round(np.nanmedian(track.midi[round(i * per_note) + 1 : round(i * per_note) + 4])))
            for i in range(int(len(audio) / RATE / 0.25))]


def test_codebook_round_trip_keeps_the_notes_and_the_codebook_travels_in_the_state():
    train = [piece(seed) for seed in range(7, 33)]  # 52 s: 3,276 frames, 51 codes of at least 64 frames
    rep = CodebookRepresentation(CodebookConfig(codes=64, fit_frames=3000))
    rep.fit(train)
    encoded = rep.encode(piece(7))
    assert encoded.dtype == torch.int64 and len(encoded) == pytest.approx(2 * RATE / 256, abs=5)
    assert len(set(encoded.tolist())) > 16  # many codes in use, not one average spectrum
    restored = CodebookRepresentation(CodebookConfig(codes=64, fit_frames=3000))
    restored.load_state_dict(rep.state_dict())
    decoded = restored.decode(encoded).data
    heard, played = notes(decoded), notes(piece(7).data)
    assert sum(a == b for a, b in zip(heard, played, strict=True)) >= 7  # pyin hears the same notes (7 of 8 at least)
    assert measures.flatness(decoded) < 0.05


def chord(seed: int, seconds: float = 3.0) -> np.ndarray:
    """A sustained major chord whose loudness swells 4 times a second (6 dB), as a
    held chord of a recording moves without changing its notes."""
    t = np.arange(int(seconds * RATE)) / RATE
    root = 196 * 2 ** (np.random.default_rng(seed).integers(0, 12) / 12)
    tones = sum(np.sin(2 * np.pi * root * ratio * t) for ratio in (1, 1.26, 1.5))
    return (0.15 * tones * (0.75 + 0.25 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def test_a_held_code_plays_the_stretch_of_recorded_frames_it_keeps_not_one_frozen_frame():
    train = [Piece(f"c{seed}", chord(seed) if seed % 2 else melody(seed), {"sample_rate": RATE}) for seed in range(24)]
    played, frozen = (CodebookRepresentation(CodebookConfig(codes=32, fit_frames=3000, exemplar_frames=n))
                      for n in (16, 0))
    for rep in (played, frozen):
        rep.fit(train)
    assert int(played.exemplar_lengths.max()) == 16 and not frozen.exemplar_lengths.any()
    for code in np.flatnonzero(played.exemplar_lengths):  # each keeps frames of its own, as recorded
        kept = played.exemplars[code, : played.exemplar_lengths[code]].astype(np.float32)
        assert (played.tokens_of(kept) == code).all()
    held = chord(101)
    encoded = played.encode(Piece("held", held, {"sample_rate": RATE}))
    assert max(length for *_, length in codebook.runs(encoded.numpy())) > 20  # the chord holds its code
    assert measures.longest_held(frozen.decode(encoded).data, RATE) > 0.5  # a centroid for each frame: frozen
    assert measures.longest_held(played.decode(encoded).data, RATE) < 0.2  # the kept frames move as the chord did
    restored = CodebookRepresentation(CodebookConfig(codes=32, fit_frames=3000))
    restored.load_state_dict(played.state_dict())
    assert np.array_equal(restored.decode(encoded).data, played.decode(encoded).data)
    before = {k: v for k, v in played.state_dict().items() if not k.startswith("exemplar")}  # a run from before
    restored.load_state_dict(before)
    assert np.array_equal(restored.decode(encoded).data, frozen.decode(encoded).data)  # plays its centroids
    assert codebook.runs(np.array([5, 5, 3, 3, 3, 5])) == [(5, 0, 2), (3, 2, 3), (5, 5, 1)]


def test_harmonic_round_trip_keeps_the_notes_and_its_scaler_travels_in_the_state():
    rep = HarmonicRepresentation(HarmonicConfig())
    rep.fit([piece(seed) for seed in range(3)])
    encoded = rep.encode(piece(7))
    assert encoded.shape == (1 + 2 * RATE // 256, rep.tokens + rep.features) and encoded.dtype == torch.float32
    pitches = encoded[:, : rep.tokens].argmax(1)
    assert torch.equal(encoded[:, : rep.tokens].sum(1), torch.ones(len(encoded)))  # one-hot pitch tokens
    assert (pitches > 0).float().mean() > 0.9  # a melody is voiced throughout
    restored = HarmonicRepresentation(HarmonicConfig())
    restored.load_state_dict(rep.state_dict())
    decoded = restored.decode(encoded)
    heard, played = notes(decoded.data), notes(piece(7).data)
    assert sum(a == b for a, b in zip(heard, played, strict=True)) >= 7  # pyin hears the same notes (7 of 8 at least)
    assert measures.flatness(decoded.data) < 0.05
    written = rep.notes(decoded.meta["pitch_tokens"])[:, 2].astype(int).tolist()
    assert written[:8] == played  # the .mid holds the played notes, one per note


def test_harmonic_noise_is_resynthesized_at_its_level_and_silence_stays_silent():
    rep = HarmonicRepresentation(HarmonicConfig())
    noise = (0.1 * np.random.default_rng(0).normal(size=RATE)).astype(np.float32)
    rep.fit([Piece("n", noise, {"sample_rate": RATE}), piece(0)])
    again = rep.decode(rep.encode(Piece("n", noise, {"sample_rate": RATE}))).data
    assert measures.rms(again) == pytest.approx(0.1, rel=0.15) and measures.flatness(again) > 0.3
    assert measures.rms(rep.decode(rep.encode(Piece("z", np.zeros(RATE, np.float32), {"sample_rate": RATE}))).data) < 1e-3


def test_token_and_frame_kind_scores_the_token_and_the_features_and_samples_one_hot():
    kind = TokenAndFrame(3)
    target = torch.tensor([[[0.0, 1.0, 0.0, 0.5, -0.5]]])
    sure = torch.tensor([[[-20.0, 20.0, -20.0, 0.5, -0.5]]])
    assert kind.step_losses(sure, target).item() == pytest.approx(0.0, abs=1e-6)
    off = sure.clone()
    off[..., 3:] = 0.0
    assert kind.step_losses(off, target).item() == pytest.approx(0.25, abs=1e-6)  # the features' MSE
    assert bool(kind.correct(sure, target).all())
    draw = kind.sampler(torch.tensor([1.0, 0.0]), None, torch.Generator().manual_seed(0))
    drawn = draw(torch.tensor([[0.0, 0.0, 0.0, 1.0, 2.0], [0.0, 5.0, 0.0, 1.0, 2.0]]), torch.tensor([False, False]))
    assert torch.equal(drawn[:, :3].sum(1), torch.ones(2)) and torch.equal(drawn[1], torch.tensor([0.0, 1.0, 0.0, 1.0, 2.0]))


def test_codebook_learns_fewer_codes_from_little_audio_and_refuses_too_little(caplog):
    """No code is learned from fewer than 64 frames: 8 pieces of 2 s (1,000 frames of
    16 ms) make 15 codes, not 256; 2 s alone (126 frames) are too few for two."""
    caplog.set_level(logging.WARNING, logger="noizenet")
    codebook = CodebookRepresentation(CodebookConfig())
    codebook.fit([piece(seed) for seed in range(8)])
    assert codebook.spec.size == len(codebook.centroids) == 1008 // 64
    assert "15 codes instead of 256" in caplog.text
    assert codebook.encode(piece(9)).max() < 15
    with pytest.raises(DataError, match="needs at least 128 training frames"):
        CodebookRepresentation(CodebookConfig(codes=512, fit_frames=1000)).fit([piece()])


def test_augmentation_is_seeded_and_keeps_length_and_sample_rate():
    rep = CodebookRepresentation(CodebookConfig(augment_copies=3))
    pieces = [piece(seed) for seed in range(2)]
    first, again = rep.augment(pieces), rep.augment(pieces)
    assert [p.id for p in first] == [f"a~aug{k}" for k in (1, 2, 3)] * 2
    assert all(np.array_equal(a.data, b.data) for a, b in zip(first, again))  # same seed: same copies
    assert all(len(p.data) == len(pieces[0].data) and p.meta["sample_rate"] == RATE and p.data.dtype == np.float32
               and np.abs(p.data).max() <= 0.99 for p in first)
    assert not np.allclose(first[0].data, pieces[0].data)
    other = CodebookRepresentation(CodebookConfig(augment_copies=3, augment_seed=1)).augment(pieces)
    assert not np.allclose(other[0].data, first[0].data)
    assert rep.augment([Piece("long", np.zeros(RATE * 601, np.float32), {"sample_rate": RATE})]) == []  # over 10 minutes
    assert CodebookRepresentation(CodebookConfig()).augment(pieces) == []  # off by default


def test_a_prime_file_longer_than_the_limit_keeps_its_end(caplog):
    caplog.set_level(logging.WARNING, logger="noizenet")
    rep = WaveformRepresentation(WaveformConfig())
    rep.fit([piece()])
    audio = np.concatenate([np.zeros(RATE * 30, np.float32), melody(4, 2.0)])
    prime = rep.prime(Piece("long.wav", audio, {"sample_rate": RATE}))
    assert len(prime) == 30 * RATE and "lasts 32 s: its last 30 s" in caplog.text
    assert torch.equal(prime[-2 * RATE:], rep.encode(Piece("end", audio[-2 * RATE:], {"sample_rate": RATE})))
    assert len(rep.prime(Piece("long.wav", audio, {"sample_rate": RATE}), seconds=1.5)) == 1.5 * RATE


def test_audio_representations_refuse_text():
    with pytest.raises(DataError, match="needs mono audio"):
        WaveformRepresentation(WaveformConfig()).fit([Piece("t", "X:1\nK:D\nABC|\n")])


# -- data -------------------------------------------------------------------------------
def test_audio_folder_skips_a_corrupt_file_and_names_it(audio_folder, caplog):
    caplog.set_level(logging.WARNING, logger="noizenet")
    pieces = list(AudioFiles(AudioFilesConfig(cut_below=0), audio_folder).pieces())
    assert len(pieces) == 8 and all(p.data.dtype == np.float32 and p.meta["sample_rate"] == RATE for p in pieces)
    assert "broken.wav" in caplog.text and "skipped 1 of 9 files that are not readable audio" in caplog.text


def test_a_small_folder_is_cut_into_pieces_so_that_every_split_hears_its_files(tmp_path):
    for i in range(4):
        soundfile.write(tmp_path / f"tune{i}.wav", melody(i, 15.0), RATE)
    pieces = list(AudioFiles(AudioFilesConfig(), tmp_path).pieces())
    assert [p.id for p in pieces] == [f"tune{i}.wav@{k}" for i in range(4) for k in range(3)]
    assert sum(len(p.data) for p in pieces) == 4 * 15 * RATE
    kept = list(AudioFiles(AudioFilesConfig(cut_below=4), tmp_path).pieces())
    assert [p.id for p in kept] == [f"tune{i}.wav" for i in range(4)]


def test_a_single_file_is_cut_into_pieces_to_validate_and_test_on(tmp_path):
    soundfile.write(tmp_path / "song.wav", melody(3, 40.0), RATE)
    pieces = list(AudioFiles(AudioFilesConfig(), tmp_path / "song.wav").pieces())
    assert [p.id for p in pieces] == [f"song.wav@{k}" for k in range(4)]  # 40 s in pieces of about 10 s
    assert sum(len(p.data) for p in pieces) == 40 * RATE
    whole = list(AudioFiles(AudioFilesConfig(segment_seconds=0), tmp_path / "song.wav").pieces())
    assert [p.id for p in whole] == ["song.wav"]


def test_audio_is_resampled_and_mixed_to_mono(tmp_path):
    stereo = np.stack([melody(1, 1.0)] * 2, axis=1)
    soundfile.write(tmp_path / "s.flac", stereo, 44100)
    (p,) = AudioFiles(AudioFilesConfig(sample_rate=8000, segment_seconds=0), tmp_path).pieces()
    assert p.data.ndim == 1 and abs(len(p.data) - 8000 * len(stereo) / 44100) <= 1


def test_audio_folder_with_nothing_readable_is_one_clear_error(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"garbage")
    with pytest.raises(DataError, match="none of its 1 file"):
        list(AudioFiles(AudioFilesConfig(), tmp_path).pieces())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    with pytest.raises(DataError, match="no audio files"):
        list(AudioFiles(AudioFilesConfig(), empty).pieces())


def test_rendered_corpus_is_cached(tmp_path, monkeypatch):
    config = Music21AudioConfig(collections=["oneills1850"], tunes=2, max_seconds=1.0, cache=str(tmp_path))
    first = list(Music21Audio(config, None).pieces())
    assert len(first) == 2 and all(len(p.data) == RATE for p in first)
    assert len(list((tmp_path / "rendered-audio").glob("*.flac"))) == 2

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again although cached")

    monkeypatch.setattr("noizenet.plugins.synthesis.render_midi", no_render)
    again = list(Music21Audio(config, None).pieces())
    assert [p.id for p in again] == [p.id for p in first]
    np.testing.assert_allclose(again[0].data, first[0].data)


# -- primes -----------------------------------------------------------------------------
def test_perlin_is_smooth_noise_with_peak_one():
    rng = np.random.default_rng(0)
    contour = perlin(16000, 145.0, 6, rng)
    white = rng.uniform(-1, 1, 16000)
    assert np.isclose(np.abs(contour).max(), 1.0)
    assert np.abs(np.diff(contour)).mean() < 0.1 * np.abs(np.diff(white)).mean()
    assert contour.std() > 0.1


@pytest.mark.parametrize("rep", [WaveformRepresentation(WaveformConfig()), FftRepresentation(FftConfig())])
def test_noise_and_perlin_primes_are_audio_of_the_asked_length(rep):
    rep.fit([piece()])
    context = PrimeContext(openings=[rep.opening(piece(), seconds=0.5)], rng=np.random.default_rng(0), seconds=0.5, noise_level=0.1)
    for prime in (NoisePrime(), PerlinPrime()):
        (made,) = prime.make(rep, context, 1)
        audio = rep.decode(made).data
        assert abs(len(audio) - RATE // 2) <= 1024
        assert 0.01 < measures.rms(audio) < 0.3


def test_abc_noise_is_random_characters_and_perlin_a_tune_in_the_key():
    tune = Piece("t", "X:1\nT:x\nM:6/8\nL:1/8\nK:G\nC,D,E,F,G,A,B,|CDEFGAB|cdefgab|c'd'e'f'g'a'b'|\n")
    rep = AbcRepresentation(AbcConfig(transpose=[]))
    rep.fit([tune])
    context = PrimeContext(openings=[rep.opening(tune)], rng=np.random.default_rng(0), seconds=2.0)
    (noise,) = NoisePrime().make(rep, context, 1)
    assert noise[0] == rep.spec.start and len(set(noise.tolist()[1:])) > 3
    (contour,) = PerlinPrime().make(rep, context, 1)
    text = rep.decode(contour).data
    assert "M:6/8" in text and "K:G" in text
    score, error = parse_abc(text)
    assert error is None and len(score.flatten().notes) == 16
    assert {p.name for p in score.flatten().pitches} <= {"G", "A", "B", "C", "D", "E", "F#"}


# -- collapse statistics ----------------------------------------------------------------
def audio_sample(name: str, prime_name: str, prime: np.ndarray, continuation: np.ndarray) -> Sample:
    """A generated sample of ``prime`` then ``continuation``, with the collapse metric's facts."""
    audio = np.concatenate([prime, continuation])
    piece = Piece(name, audio, {"sample_rate": RATE, "prime_samples": len(prime)})
    sample = Sample(name, prime_name, 1.0, torch.from_numpy(audio), len(prime), piece)
    sample.facts = Collapse().per_sample(sample, None)
    return sample


def audio_figures(samples: list[Sample], real: list[np.ndarray]) -> tuple[dict, list[dict]]:
    """The figures of the collapse, audio-quality, tonality and motion metrics, and the collapse verdicts."""
    held_out = [Piece(f"real{i}", audio, {"sample_rate": RATE}) for i, audio in enumerate(real)]
    context = EvaluationContext(None, samples, [], held_out, None)
    results = [metric.per_set(context) for metric in (Collapse(), AudioQuality(), TonalityMetric(), Motion())]
    return {k: v for result in results for k, v in result.figures.items()}, results[0].details["per_sample"]


def test_collapse_is_detected_as_a_constant_and_as_a_repeated_frame():
    real = [melody(s) for s in range(3)]
    prime = melody(9, 1.0)
    buzz = np.tile(np.sin(2 * np.pi * np.arange(256) / 64), 125).astype(np.float32) * 0.3  # one frame, repeated
    samples = [
        audio_sample("alive", "song", prime, melody(10)),
        audio_sample("constant", "song", prime, np.full(32000, 0.01, np.float32)),
        audio_sample("buzz", "noise", prime, buzz),
    ]
    result, verdicts = audio_figures(samples, real)
    verdict = {v["name"]: v for v in verdicts}
    assert not verdict["alive"]["collapsed"]
    assert verdict["constant"]["collapsed"] and verdict["constant"]["rms_ratio"] < 0.1
    assert verdict["buzz"]["collapsed"] and verdict["buzz"]["rms_ratio"] > 0.5  # only the spectrum gives it away
    assert result["collapsed_samples"] == 2 and result["primes_differ"] is True
    assert result["flatness_real"] < 0.1
    alive, _ = audio_figures(samples[:1], real)
    assert alive["frechet_generated"] < alive["frechet_white_noise"] < result["frechet_generated"]


def test_motion_hears_onsets_tempo_loudness_and_a_held_stretch_beside_real_audio():
    """Four plucked notes a second are four onsets a second at 120 or 240 bpm; a tone
    held for 2 s is a 2 s held stretch that real audio and white noise do not have."""
    t = np.arange(2 * RATE) / RATE
    held = np.concatenate([melody(10, 1.0), (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)])
    assert measures.longest_held(held, RATE) == pytest.approx(2.0, abs=0.25)
    assert measures.longest_held(melody(11), RATE) < 0.3
    assert measures.onsets_per_second(melody(12, 4.0), RATE) == pytest.approx(4.0, abs=0.6)
    assert min(abs(measures.tempo(melody(12, 4.0), RATE) - bpm) for bpm in (120, 240)) < 10
    assert measures.loudness_spread(melody(12)) > 1 > 10 * measures.loudness_spread(held[RATE:])
    prime = melody(9, 1.0)
    samples = [audio_sample("alive", "song", prime, melody(10, 3.0)), audio_sample("held", "song", prime, held)]
    figures, _ = audio_figures(samples, [melody(s, 4.0) for s in range(4)])
    assert figures["onsets_per_s_real"] == pytest.approx(4.0, abs=0.6) and figures["onsets_per_s_white_noise"] < 3
    assert figures["longest_held_s_real"] < 0.3 and figures["longest_held_s_white_noise"] < 0.3
    assert figures["longest_held_s_generated"] > 0.9  # the mean of 0.1 and 2 s
    assert figures["tempo_bpm_real"] > 0 and figures["loudness_spread_db_real"] > 1
    alive, _ = audio_figures(samples[:1], [melody(s, 4.0) for s in range(4)])
    assert 0 < alive["frechet_real_halves"] and alive["frechet_ratio"] < figures["frechet_ratio"]
    assert alive["frechet_ratio"] < alive["frechet_white_noise"] / alive["frechet_real_halves"]


def test_held_out_audio_is_pitch_tracked_once_and_kept(monkeypatch):
    clip = melody(3)
    direct = measures.tonality(clip, RATE)
    first = measures.recurring_tonality(clip, RATE)
    monkeypatch.setattr(measures, "tonality", lambda *args: pytest.fail("the kept pitch track was measured again"))
    for kept in (first, measures.recurring_tonality(clip, RATE)):
        assert np.array_equal(kept.voiced, direct.voiced) and np.array_equal(kept.midi, direct.midi, equal_nan=True)
        assert np.array_equal(kept.chroma, direct.chroma) and kept.seconds == direct.seconds == 2.0


def test_tonality_hears_notes_in_a_melody_and_none_in_noise():
    real = [melody(s) for s in range(3)]
    prime = melody(9, 1.0)
    rng = np.random.default_rng(0)
    samples = [audio_sample("tune", "song", prime, melody(10)),
               audio_sample("hiss", "song", prime, rng.normal(0, 0.1, 2 * RATE).astype(np.float32))]
    tune, _ = audio_figures(samples[:1], real)
    hiss, _ = audio_figures(samples[1:], real)
    assert tune["voiced_share_generated"] > 0.8 and hiss["voiced_share_generated"] < 0.05
    assert tune["voiced_share_white_noise"] < 0.05 and tune["voiced_share_real"] > 0.8
    assert tune["chroma_entropy_generated"] < 3.0 < 3.4 < hiss["chroma_entropy_generated"]
    assert 1.5 < tune["pitch_changes_per_s_generated"] <= 4.5 and hiss["pitch_changes_per_s_generated"] < 0.5
    assert tune["flatness_generated"] < 0.05 < 0.3 < tune["flatness_white_noise"]
    assert -1 <= tune["key_correlation"] <= 1 and tune["key_correlation_real"] is not None


def test_key_kept_is_high_for_a_continuation_in_the_prime_s_key_and_chance_is_measured():
    real = [Piece(f"real{seed}", np.concatenate([in_key(tonic, seed, 1.0), in_key(tonic, seed + 10, 1.0)]),
                  {"sample_rate": RATE}) for seed, tonic in enumerate((0, 6, 3))]
    prime = in_key(0, 20, 1.0)

    def figures(continuation: np.ndarray) -> dict:
        sample = audio_sample("tune", "song", prime, continuation)
        return TonalityMetric().per_set(EvaluationContext(None, [sample], [], real, None)).figures

    kept, moved = figures(in_key(0, 21, 1.0)), figures(in_key(6, 21, 1.0))
    assert kept["key_correlation"] > 0.6 > 0.0 > moved["key_correlation"]
    assert kept["key_correlation_real"] > 0.6 > kept["key_correlation_other"]  # tunes in keys a tritone or third apart
    asked = audio_sample("asked", "noise", prime, in_key(6, 22, 1.0))
    asked.asked = {"key": "D# major"}  # in_key(6) is a major key on A + 6 semitones
    details = TonalityMetric().per_set(EvaluationContext(None, [audio_sample("tune", "song", prime, in_key(6, 21, 1.0)),
                                                                asked], [], real, None)).details
    (row,) = details["key_kept"]  # each sample's figures, for intervals over samples
    assert row["name"] == "tune" and row["key_correlation"] < 0 and row["key_mirex"] == 0.0
    assert details["key_asked"] == [{"name": "asked", "asked": "D# major", "found": "D# major", "key_mirex": 1.0}]


def test_frechet_distance_of_a_feature_that_never_moves_is_finite_and_quiet():
    rng = np.random.default_rng(0)
    moving = rng.normal(size=(200, 4))
    stuck = moving.copy()
    stuck[:, 2] = 1.0  # e.g. a chroma band of a collapsed clip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert measures.frechet(moving, moving) == pytest.approx(0.0, abs=1e-6)
        distance = measures.frechet(stuck, moving)
    assert np.isfinite(distance) and distance > 1.0  # the stuck band's mean (1 vs ~0) and its lost variance


# -- whole runs -------------------------------------------------------------------------
def run_audio(cli, tmp_path, audio_folder, *extra):
    out = tmp_path / "run"
    result = cli("run", "--data", audio_folder, "--out", out, *AUDIO_TINY, "--seconds", "0.5",
                 "--set", "generate.prime_seconds=0.25", "--prime", "song,noise,perlin", *extra)
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "metrics.json").read_text())


def test_waveform_run_writes_wavs_pngs_and_collapse_statistics(cli, tmp_path, audio_folder):
    out, metrics = run_audio(cli, tmp_path, audio_folder, "--repr", "waveform", "--model", "gru", "--set", "data.max_seconds=1")
    wavs = sorted((out / "samples").glob("*.wav"))
    assert len(wavs) == 6 and len(list((out / "samples").glob("*.png"))) == 6
    for wav in wavs:
        info = soundfile.info(wav)
        assert info.samplerate == RATE and info.frames == RATE * 3 // 4  # prime 0.25 s + 0.5 s
    assert all(s["continuation_seconds"] == 0.5 for s in metrics["samples"])
    assert {s["temperature"] for s in metrics["samples"]} == {0.5}  # waveform's suggested temperature
    verdicts = metrics["quality"]["collapse"]["per_sample"]
    assert metrics["samples_checked"] == 6 and {v["prime"] for v in verdicts} == {"song", "noise", "perlin"}
    assert metrics["frechet_white_noise"] > 0 and "collapsed_samples" in metrics
    assert metrics["val_accuracy"] is not None and "collapsed continuations" in (out / "report.md").read_text()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["val_loss"] < records[0]["val_loss"]


def test_zscore_runs_to_the_end_and_reports_its_collapse_at_temperature_zero(cli, tmp_path, audio_folder):
    out, metrics = run_audio(cli, tmp_path, audio_folder, "--repr", "waveform", "--model", "lstm",
                             "--set", "repr.encoding=zscore", "-t", "0")
    assert metrics["samples_checked"] == 6
    assert all(isinstance(v["collapsed"], bool) for v in metrics["quality"]["collapse"]["per_sample"])
    assert all(soundfile.info(w).frames == RATE * 3 // 4 for w in (out / "samples").glob("*.wav"))


def test_fft_run_generates_audio_and_again_once_its_data_is_gone(cli, tmp_path, audio_folder):
    data = tmp_path / "data"
    shutil.copytree(audio_folder, data)
    out, metrics = run_audio(cli, tmp_path, data, "--repr", "fft", "--model", "lstm")
    assert metrics["samples_checked"] == 6 and metrics["test_loss"] > 0
    assert len(list((out / "samples").glob("*.wav"))) == 6
    for sample in metrics["samples"]:  # 0.5 s is 15.6 hops of 512 samples: rounded up to whole frames
        assert 0.5 <= sample["continuation_seconds"] < 0.5 + 512 / RATE
        assert soundfile.info(out / "samples" / f"{sample['name']}.wav").duration == sample["seconds"]
    first = torch.load(out / "samples" / "sequences.pt", weights_only=True)
    mine = tmp_path / "mine.wav"
    soundfile.write(mine, np.stack([melody(20, 1.0)] * 2, axis=1), 44100)  # stereo at another rate
    assert cli("generate", out, "--prime-file", mine, "-n", "1", "-q").exit_code == 0
    (sample,) = json.loads((latest_generation(out) / "samples.json").read_text())["samples"]
    assert sample["prime"] == "file:mine.wav" and sample["continuation_seconds"] >= 0.5
    whole = soundfile.info(mine).duration  # all of the file primes it, to whole hops of 512 samples
    assert abs(sample["seconds"] - sample["continuation_seconds"] - whole) <= 512 / RATE
    assert (latest_generation(out) / "file-mine-t1-00.wav").exists()
    assert cli("generate", out, "--prime-file", mine, "--prime-seconds", "0.1", "-n", "1", "-q").exit_code == 0
    (cut,) = json.loads((latest_generation(out) / "samples.json").read_text())["samples"]
    assert cut["seconds"] - cut["continuation_seconds"] <= 0.1 + 512 / RATE < whole
    shutil.rmtree(data)  # song openings and the sampling spread are in best.pt
    assert cli("generate", out, "-q").exit_code == 0
    again = torch.load(latest_generation(out) / "sequences.pt", weights_only=True)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_codebook_run_writes_audio_and_measures_its_tonality(cli, tmp_path, audio_folder):
    out, metrics = run_audio(cli, tmp_path, audio_folder, "--repr", "codebook", "--model", "lstm",
                             "--set", "repr.codes=32", "--set", "repr.fit_frames=2000")
    assert len(list((out / "samples").glob("*.wav"))) == 6 and len(list((out / "samples").glob("*.png"))) == 6
    assert {f["source"] for f in metrics["figures"]} >= {"categorical", "tonality", "collapse", "audio-quality"}
    assert metrics["voiced_share_real"] > 0.8 and metrics["voiced_share_white_noise"] < 0.05
    assert metrics["voiced_share_generated"] is not None and metrics["val_accuracy"] is not None
    assert len(metrics["quality"]["tonality"]["per_sample"]) == 6
    assert "too few to judge the model by" in (out / "report.md").read_text()  # 8 files: 1 validation piece
    assert cli("generate", out, "-q").exit_code == 0
    composer = Composer([out], Limits(max_seconds=2))  # the composer page on an audio run
    try:
        offered = composer.describe("run")
        assert offered["counts_time"] and offered["conditioned"] and offered["steering"] == ["key"]
        for refused in (GenerateRequest(seconds=3), GenerateRequest(meter="6/8"), GenerateRequest(key="H major")):
            with pytest.raises(NoizenetError):
                composer.submit("run", refused)
        job = composer.submit("run", GenerateRequest(prime="noise", key="E minor", seconds=0.5, guidance=2, num_samples=2))
        assert job.finished.wait(120) and job.state == "done", job.error
        assert all(row["asked"] == {"key": "E minor"} and {Path(f).suffix for f in row["files"]} >= {".wav", ".png"}
                   for row in job.samples)
    finally:
        composer.close()


def test_harmonic_run_writes_audio_and_the_notes_it_played(cli, tmp_path, audio_folder):
    out, metrics = run_audio(cli, tmp_path, audio_folder, "--repr", "harmonic", "--model", "gru", "--seq-len", "32",
                             "--epochs", "4")  # 125 frames a file: a few steps an epoch
    for kind in ("wav", "png", "mid"):
        assert len(list((out / "samples").glob(f"*.{kind}"))) == 6, kind
    assert metrics["voiced_share_generated"] is not None and metrics["val_accuracy"] is not None
    score = music21.converter.parse(next((out / "samples").glob("song-*.mid")))
    assert len(score.flatten().notes) >= 1  # the song prime's notes at least
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["val_loss"] < records[0]["val_loss"]


def test_abc_given_audio_and_waveform_given_abc_each_get_one_line(cli, tmp_path, audio_folder, tunes_file):
    result = cli("run", "--repr", "waveform", "--data", tunes_file, "--out", tmp_path / "a", *AUDIO_TINY)
    assert result.exit_code == 2 and "not readable audio" not in result.output
    assert "none of its 1 file(s) is readable audio" in result.output and "Traceback" not in result.output
    result = cli("run", "--repr", "abc", "--data", audio_folder, "--out", tmp_path / "b", *TINY)
    assert result.exit_code == 2 and "no *.abc files" in result.output and "--repr codebook" in result.output
    result = cli("run", "--repr", "abc", "--data", audio_folder / "tune0.wav", "--out", tmp_path / "b", *TINY)
    assert result.exit_code == 2 and "is audio, and representation 'abc' reads ABC text" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()



# -- chroma and crnn ------------------------------------------------------------------
def triad(pitches, seconds=1.0):
    t = np.arange(int(seconds * RATE)) / RATE
    return sum(np.sin(2 * np.pi * librosa.midi_to_hz(p) * t) for p in pitches).astype(np.float32) / 4


def test_chroma_finds_the_chord_that_sounds_and_decodes_it_back():
    rep = ChromaRepresentation(ChromaConfig())
    major = Piece("c", triad([60, 64, 67]), {"sample_rate": RATE})
    rep.fit([major])
    frames = rep.encode(major)
    assert frames.shape[1] == 12 and float(frames.min()) >= 0 and float(frames.max()) <= 1
    (chord, count), = rep.chords(frames)
    assert chord == (0, 4, 7) and count == len(frames)
    again = rep.encode(Piece("d", rep.decode(frames).data, {"sample_rate": RATE}))
    assert rep.chords(again)[0][0] == (0, 4, 7)  # the decoded sound is that chord again


def test_crnn_predicts_frames_and_refuses_tokens():
    spec = OutputSpec(Continuous(), 1026)
    model = Crnn(spec, CrnnConfig())
    y, state = model(torch.randn(2, 7, 1026))
    assert y.shape == (2, 7, 1026)
    y2, _ = model(torch.randn(2, 3, 1026), state)
    assert y2.shape == (2, 3, 1026)
    with pytest.raises(ConfigError, match="frame representation"):
        Crnn(OutputSpec(Categorical(), 50), CrnnConfig())


def test_chroma_crnn_run_writes_chords_as_midi_and_wav(cli, tmp_path, audio_folder, tunes_file):
    out, metrics = run_audio(cli, tmp_path, audio_folder, "--repr", "chroma", "--model", "crnn")
    mids = sorted((out / "samples").glob("*.mid"))
    assert len(mids) == 6 and len(list((out / "samples").glob("*.wav"))) == 6
    for mid in mids:
        assert music21.converter.parse(mid).flatten().getElementsByClass("Chord")
    assert all(s["chords"] > 0 for s in metrics["samples"])
    result = cli("run", "--repr", "abc", "--model", "crnn", "--data", tunes_file, "--out", tmp_path / "x", *TINY)
    assert result.exit_code == 2 and "frame representation" in result.output
