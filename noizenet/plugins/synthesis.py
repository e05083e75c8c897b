"""MIDI files for every symbolic representation: written from music21 streams, and
rendered to WAV with FluidSynth and a General MIDI SoundFont when installed, else
with a small built-in additive synthesizer (so a WAV is always written)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from noizenet.api import Check, atomic_write_bytes, atomic_write_wav, deferred

music21 = deferred("music21")

SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)
SAMPLE_RATE = 22050  # Hz, of rendered WAV files


@contextlib.contextmanager
def quiet_music21() -> Iterator[None]:
    """Silence music21's warnings, which it writes straight to stderr."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def find_soundfont() -> Path | None:
    """``$NOIZENET_SOUNDFONT`` or the first General MIDI SoundFont found on the system."""
    candidates = [os.environ.get("NOIZENET_SOUNDFONT", ""), *SOUNDFONTS]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


def renderer_check() -> Check:
    """Whether WAV files of symbolic music go through FluidSynth (for ``noizenet doctor``)."""
    program, soundfont = shutil.which("fluidsynth"), find_soundfont()
    found = f"{program or 'fluidsynth not found'}; SoundFont: {soundfont or 'none found (or set $NOIZENET_SOUNDFONT)'}"
    return Check("FluidSynth + General MIDI SoundFont", bool(program and soundfont), found,
                 "WAV of ABC and MIDI samples (and the music21-audio corpus) from a small built-in synthesizer "
                 "instead of real instruments")


def renderer() -> str:
    """Which renderer :func:`render_midi` uses here, in words for the report."""
    soundfont = find_soundfont()
    if shutil.which("fluidsynth") and soundfont:
        return f"FluidSynth ({soundfont.name})"
    return "built-in synthesizer (FluidSynth or a General MIDI SoundFont not found)"


def render_midi(midi_path: Path, wav_path: Path, *, sample_rate: int = SAMPLE_RATE) -> Path:
    """Render ``midi_path`` to a mono/stereo WAV at ``sample_rate`` Hz, atomically:
    FluidSynth with a General MIDI SoundFont where there is one, else
    :func:`synthesize_midi`."""
    soundfont = find_soundfont()
    audio = None
    if shutil.which("fluidsynth") and soundfont:
        with tempfile.TemporaryDirectory() as folder:
            rendered = Path(folder) / "fluidsynth.wav"
            if _fluidsynth(midi_path, rendered, soundfont, sample_rate):
                audio, _ = sf.read(rendered, dtype="float32")
    if audio is None:
        audio = synthesize_midi(midi_path, sample_rate)
    return atomic_write_wav(wav_path, normalize_peak(audio), sample_rate)


def write_midi(stream: music21.stream.Stream, path: Path) -> Path:
    """Write a music21 stream (a score, a part, notes) as a MIDI file, atomically."""
    with quiet_music21():
        atomic_write_bytes(path, music21.midi.translate.streamToMidiFile(stream).writestr())
    return Path(path)


def _fluidsynth(midi_path: Path, wav_path: Path, soundfont: Path, sample_rate: int) -> bool:
    command = ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(sample_rate), "-F", str(wav_path), str(soundfont), str(midi_path)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and wav_path.stat().st_size > 44


def normalize_peak(audio: np.ndarray, peak: float = 0.9) -> np.ndarray:
    """``audio`` scaled so its loudest sample is ``peak`` (silence stays silent)."""
    loudest = float(np.abs(audio).max()) if audio.size else 0.0
    return audio * (peak / loudest) if loudest > 0 else audio


def synthesize_midi(midi_path: Path, sample_rate: int) -> np.ndarray:
    """Float32 mono audio ``(n_samples,)`` of every note in a MIDI file: a few decaying
    harmonics per note."""
    with quiet_music21():
        score = music21.converter.parse(str(midi_path))
    events = [
        (item["offsetSeconds"], item["durationSeconds"], pitch.frequency)
        for item in score.flatten().secondsMap
        if isinstance(item["element"], (music21.note.Note, music21.chord.Chord))
        for pitch in item["element"].pitches
    ]
    end = max((start + length for start, length, _ in events), default=0.0) + 0.5
    audio = np.zeros(int(end * sample_rate) + 1, dtype=np.float32)
    for start, length, frequency in events:
        n = int((length + 0.15) * sample_rate)
        t = np.arange(n, dtype=np.float32) / sample_rate
        tone = sum(np.sin(2 * np.pi * frequency * k * t) / k**1.5 for k in (1, 2, 3, 4))
        envelope = np.minimum(1.0, t / 0.01) * np.exp(-3.0 * t) * np.clip((length + 0.15 - t) / 0.15, 0, 1)
        first = int(start * sample_rate)
        audio[first : first + n] += (tone * envelope)[: len(audio) - first]
    return audio
