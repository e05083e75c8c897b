"""Folders of a user's kind made from the bundled corpus, for benchmarks that need
material noizenet was not tuned on: ABC files, MIDI files and rendered audio.

Tunes come from music21's ABC collections (default: miscFolk, 185 tunes that the
audio defaults never render), chosen by a seeded shuffle so that each seed
gives other pieces. Audio is rendered MIDI -> FluidSynth (or the built-in
synthesizer) at 22.05 kHz, as a user's recordings would be, and one file of every
folder is stereo (the same tune, its right channel 6 dB quieter).

    from corpora import make_folder
    make_folder("audio", 6, Path("/tmp/six"), seed=0)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from noizenet.datasets.abc_files import Music21Abc, Music21AbcConfig
from noizenet.plugins.abc.text import midi_bytes
from noizenet.plugins.synthesis import render_midi

KINDS = ("abc", "midi", "audio")
AUDIO_RATE = 22050  # Hz: what a user's files have, not the run's 16 kHz
AUDIO_SECONDS = 15.0  # of each rendered tune


def corpus_tunes(collections: list[str], seed: int) -> list[tuple[str, str]]:
    """(id, ABC text) of every tune of ``collections``, shuffled with ``seed``."""
    tunes = [(p.id, p.data) for p in Music21Abc(Music21AbcConfig(collections=collections), None).pieces()]
    order = np.random.default_rng(seed).permutation(len(tunes))
    return [tunes[i] for i in order]


def make_folder(kind: str, count: int, out: Path, *, seed: int = 0,
                collections: tuple[str, ...] = ("miscFolk",)) -> Path:
    """``out`` filled with ``count`` pieces of ``kind`` (one file each); tunes
    music21 cannot turn into MIDI are passed over. Returns ``out``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    out.mkdir(parents=True, exist_ok=True)
    made = 0
    for tune_id, text in corpus_tunes(list(collections), seed):
        if made == count:
            break
        stem = out / f"{made:03d}-{Path(tune_id.split('#')[0]).stem}"
        if kind == "abc":
            Path(f"{stem}.abc").write_text(text, encoding="utf-8")
            made += 1
            continue
        midi, _ = midi_bytes(text)
        if midi is None:
            continue
        if kind == "midi":
            Path(f"{stem}.mid").write_bytes(midi)
        else:
            write_rendered(midi, Path(f"{stem}.wav"), stereo=made == 0)
        made += 1
    if made < count:
        raise ValueError(f"{', '.join(collections)} has only {made} tunes music21 can play; asked for {count}")
    return out


def write_rendered(midi: bytes, wav: Path, *, stereo: bool) -> None:
    """The first ``AUDIO_SECONDS`` of ``midi`` rendered at ``AUDIO_RATE``; ``stereo``
    keeps two channels with the right one 6 dB down."""
    with tempfile.TemporaryDirectory() as tmp:
        midi_path = Path(tmp) / "tune.mid"
        midi_path.write_bytes(midi)
        rendered = render_midi(midi_path, Path(tmp) / "tune.wav", sample_rate=AUDIO_RATE)
        audio, rate = sf.read(rendered, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)[: int(AUDIO_SECONDS * rate)]
    data = np.stack([mono, 0.5 * mono], axis=1) if stereo else mono
    sf.write(wav, data, rate, subtype="PCM_16")
