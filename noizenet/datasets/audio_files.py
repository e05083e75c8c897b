"""Audio datasets: the user's own files, and tunes of the bundled ABC corpus
rendered to audio (cached on disk, so only the first run renders).

Each file (or tune) is a piece: float32 mono samples at ``sample_rate`` Hz.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from noizenet.api import ConfigError, DataError, Dataset, Piece, cache_folder, hookimpl, progress_bar
from noizenet.datasets.abc_files import Music21Abc, Music21AbcConfig
from noizenet.datasets.paths import AUDIO_SUFFIXES, DataFiles, files_with_suffixes, not_readable, read_each
from noizenet.plugins.abc.text import midi_bytes
from noizenet.plugins import synthesis
from noizenet.plugins.synthesis import find_soundfont, render_midi, renderer

log = logging.getLogger("noizenet")

RENDER_VERSION = 1  # bump when rendering changes, so that old cached audio is not reused


def _check_rate(sample_rate: int) -> None:
    if not 1000 <= sample_rate <= 192_000:
        raise ConfigError(f"data.sample_rate must be in [1000, 192000] Hz, got {sample_rate}")


@dataclass
class AudioFilesConfig:
    sample_rate: int = 16000  # Hz; files are resampled to it and mixed to mono
    max_seconds: float = 0.0  # read at most this much of each file; 0 = all of it
    suffixes: list[str] = field(default_factory=lambda: list(AUDIO_SUFFIXES))  # files looked for in a folder
    # A folder of fewer than `cut_below` files is too small to validate and test on by
    # file (one held-out file is one tune's noise, and 3 files would train on one): each
    # file is then cut into pieces of about `segment_seconds` (at least 3 a file), so that
    # training, validation and testing each hear most of the files. 0 = never cut.
    segment_seconds: float = 10.0
    cut_below: int = 12
    # Silence before a file's first sound and after its last, quieter than this many dB
    # below its peak, is cut: a song's silent tail taught the codebook that silence
    # lasts, and continuations stayed silent once there. 0 = keep it.
    trim_db: float = 60.0

    def __post_init__(self) -> None:
        _check_rate(self.sample_rate)
        if min(self.max_seconds, self.segment_seconds, self.cut_below, self.trim_db) < 0:
            raise ConfigError("data.max_seconds, data.segment_seconds, data.cut_below and data.trim_db must be >= 0")


def load_audio(path: Path, sample_rate: int, max_seconds: float = 0.0) -> np.ndarray:
    """Float32 mono ``(n,)`` at ``sample_rate``; raises DataError when unreadable or empty."""
    try:
        with warnings.catch_warnings():  # librosa warns before falling back to audioread
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(path, sr=sample_rate, mono=True, duration=max_seconds or None)
    except Exception as error:  # soundfile and audioread raise many kinds
        raise not_readable(path, "not readable audio", error) from None
    if audio.size == 0:
        raise DataError(f"{path}: no audio samples")
    if not np.isfinite(audio).all():
        raise DataError(f"{path}: contains NaN or infinite samples")
    return audio.astype(np.float32)


class AudioFiles(Dataset):
    """An audio file, or every audio file under a folder (recursively)."""

    name = "audio-files"
    Config = AudioFilesConfig
    description = "an audio file, a folder of them, or a list of them: wav, flac, ogg, mp3, ... (--data PATH)"

    def data(self) -> DataFiles:
        return files_with_suffixes(self.path, self.name, self.config.suffixes, "an audio file", "audio")

    def sources(self) -> list[Path]:
        return self.data().sources()

    def pieces(self) -> Iterator[Piece]:
        data = self.data()
        files, path = data.files, Path(self.path)
        segments = 0
        cut = len(files) < self.config.cut_below and self.config.segment_seconds > 0
        rate, seconds = self.config.sample_rate, self.config.max_seconds
        for file, audio in read_each(files, lambda file: load_audio(file, rate, seconds), "audio", path):
            if self.config.trim_db:
                audio, _ = librosa.effects.trim(audio, top_db=self.config.trim_db)
            name, meta = data.piece_id(file), {"sample_rate": self.config.sample_rate, **data.meta(file)}
            segment = self.config.segment_seconds * self.config.sample_rate
            count = min(len(audio), max(3, round(len(audio) / segment))) if cut else 1
            if count < 3:
                yield Piece(name, audio, meta)
                continue
            segments += count
            for k, part in enumerate(np.array_split(audio, count)):
                yield Piece(f"{name}@{k}", np.ascontiguousarray(part), meta)
        if segments:
            log.info("a folder of fewer than %d files (data.cut_below): its files are cut into %d pieces of about "
                     "%g s or less, so that validation and testing hear most of them", self.config.cut_below, segments,
                     self.config.segment_seconds)


    def read_file(self, path: Path) -> Piece:
        """The whole file, resampled and mixed to mono (never cut into segments)."""
        if not Path(path).is_file():
            raise DataError(f"{path}: no such file")
        return Piece(Path(path).name, load_audio(path, self.config.sample_rate), {"sample_rate": self.config.sample_rate})


@dataclass
class Music21AudioConfig:
    collections: list[str] = field(default_factory=lambda: ["oneills1850", "ryansMammoth", "airdsAirs"])
    tunes: int = 64  # tunes rendered, spread evenly over the collections
    max_seconds: float = 15.0  # of each tune
    sample_rate: int = 16000  # Hz
    cache: str = ""  # folder of rendered audio; "" = $NOIZENET_CACHE or ~/.cache/noizenet

    def __post_init__(self) -> None:
        _check_rate(self.sample_rate)
        if self.tunes < 1 or self.max_seconds <= 0:
            raise ConfigError("data.tunes must be >= 1 and data.max_seconds > 0")


class Music21Audio(Dataset):
    """Tunes of music21's ABC corpus rendered MIDI -> FluidSynth (or the built-in
    synthesizer), the same path as the ABC samples. Rendered once, then cached."""

    name = "music21-audio"
    Config = Music21AudioConfig
    description = "tunes of the music21 ABC corpus rendered to audio, cached after the first run"

    def tunes(self) -> Music21Abc:
        if self.path is not None:
            raise DataError("dataset 'music21-audio' renders the bundled corpus and takes no --data")
        return Music21Abc(Music21AbcConfig(collections=list(self.config.collections)), None)

    def sources(self) -> list[Path]:
        """The tunes' ``.abc`` files and what renders them (this synthesizer, the SoundFont)."""
        soundfont = find_soundfont() if shutil.which("fluidsynth") else None
        return self.tunes().sources() + [Path(synthesis.__file__)] + ([soundfont] if soundfont else [])

    def pieces(self) -> Iterator[Piece]:
        cfg = self.config
        tunes = list(self.tunes().pieces())
        stride = max(1, len(tunes) // cfg.tunes)
        chosen = tunes[::stride][: cfg.tunes]
        folder = cache_folder(self.config.cache, "rendered-audio")
        with progress_bar("audio of corpus tunes", quiet=False) as bar:
            for done, tune in enumerate(chosen, start=1):
                audio = self.rendered(tune, folder)
                bar.update(done / len(chosen), f"{done}/{len(chosen)} tunes")
                if audio is not None:
                    yield Piece(tune.id, audio, {"sample_rate": cfg.sample_rate, "source": tune.id})

    def rendered(self, tune: Piece, folder: Path) -> np.ndarray | None:
        """The tune's audio from the cache, else rendered and cached; None if it has no MIDI."""
        cfg = self.config
        key = hashlib.sha1(f"{RENDER_VERSION}|{cfg.sample_rate}|{cfg.max_seconds}|{renderer()}|{tune.data}".encode()).hexdigest()
        cached = folder / f"{key[:20]}.flac"
        if cached.exists():
            try:
                audio, _ = sf.read(cached, dtype="float32")
                return audio
            except (OSError, RuntimeError, sf.LibsndfileError):
                cached.unlink(missing_ok=True)  # damaged: render again
        midi, _ = midi_bytes(tune.data)
        if midi is None:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            midi_path = Path(tmp) / "tune.mid"
            midi_path.write_bytes(midi)
            wav = render_midi(midi_path, Path(tmp) / "tune.wav", sample_rate=cfg.sample_rate)
            audio, _ = sf.read(wav, dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)[: int(cfg.max_seconds * cfg.sample_rate)]
        fd, tmp_path = tempfile.mkstemp(dir=folder, suffix=".flac")
        os.close(fd)
        try:
            sf.write(tmp_path, audio, cfg.sample_rate, subtype="PCM_16", format="FLAC")
            os.replace(tmp_path, cached)
        finally:
            Path(tmp_path).unlink(missing_ok=True)
        audio, _ = sf.read(cached, dtype="float32")  # as 16-bit, exactly what later runs read
        return audio


@hookimpl
def noizenet_datasets():
    return [AudioFiles, Music21Audio]
