"""Keys as pitch-class profiles: the Krumhansl-Kessler probe-tone profiles, a key
named by a user (``"E minor"``, ``"Bb"``, ``"F#m"``), the Krumhansl-Schmuckler key of
a profile and the MIREX score of a detected key against another.
"""

from __future__ import annotations

import re

import numpy as np

from noizenet.api import ConfigError

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# Krumhansl & Kessler (1982), from the tonic up, major and minor
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
KEY_PATTERN = re.compile(r"^\s*([A-Ga-g])\s*([#b♯♭]?)\s*(m|min|minor|maj|major)?\s*$", re.IGNORECASE)

Key = tuple[int, str]  # (tonic pitch class 0-11, "major" | "minor")


def parse_key(text: str) -> Key:
    """``"E minor"``, ``"Em"``, ``"Bb major"``, ``"F#"`` -> (tonic, mode); a ConfigError
    naming the forms understood otherwise."""
    match = KEY_PATTERN.match(text)
    if not match:
        raise ConfigError(f"--key '{text}' is not a key: give a tonic and a mode, e.g. \"E minor\", \"Bb\", \"F#m\"")
    letter, accidental, mode = match.groups()
    tonic = (LETTERS[letter.upper()] + {"#": 1, "♯": 1, "b": -1, "♭": -1, "": 0}[accidental]) % 12
    minor = mode is not None and mode.lower() in ("m", "min", "minor")
    return tonic, "minor" if minor else "major"


def nearest(semitones: int) -> int:
    """``semitones`` as the smallest shift to the same pitch class, in [-5, 6]."""
    return (semitones + 5) % 12 - 5


def key_name(key: Key) -> str:
    return f"{PITCH_CLASSES[key[0]]} {key[1]}"


def key_profile(key: Key) -> np.ndarray:
    """``(12,)`` the key's Krumhansl-Kessler profile, summing to 1, C first."""
    template = MAJOR if key[1] == "major" else MINOR
    profile = np.roll(template, key[0])
    return profile / profile.sum()


def standardized(profile: np.ndarray) -> np.ndarray:
    """float32 ``(12,)``: ``profile`` minus its mean over its standard deviation, so
    that a profile's shape, not its scale, conditions a model; zeros (the neutral
    condition) for a flat one (no pitch, or every pitch class alike)."""
    spread = profile.std()
    if spread < 1e-6 * max(1e-12, float(np.abs(profile).mean())):
        return np.zeros(12, np.float32)
    return ((profile - profile.mean()) / spread).astype(np.float32)


def detect_key(profile: np.ndarray) -> Key | None:
    """The Krumhansl-Schmuckler key of a ``(12,)`` pitch-class profile: the major or
    minor key whose profile correlates best with it; None for a flat profile."""
    if profile.std() < 1e-12:
        return None
    scores = [(float(np.corrcoef(profile, key_profile((tonic, mode)))[0, 1]), (tonic, mode))
              for mode in ("major", "minor") for tonic in range(12)]
    return max(scores)[1]


def mirex_score(found: Key, wanted: Key) -> float:
    """MIREX key-finding score of ``found`` against ``wanted``: 1 the same key, 0.5 a
    fifth away (same mode), 0.3 relative major/minor, 0.2 parallel, else 0."""
    (tonic, mode), (wanted_tonic, wanted_mode) = found, wanted
    interval = (tonic - wanted_tonic) % 12
    if mode == wanted_mode:
        return 1.0 if interval == 0 else 0.5 if interval in (5, 7) else 0.0
    if interval == 0:
        return 0.2
    relative = 9 if wanted_mode == "major" else 3  # relative minor of C: A; relative major of A minor: C
    return 0.3 if interval == relative else 0.0
