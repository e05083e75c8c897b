"""MIDI of ABC tunes that music21 refuses, by abc2midi (the Debian package
``abcmidi``, which ``make install`` installs where it can): it plays what it can
read and warns about the rest, as the ABC community's tools do."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

MISSING = "abc2midi is not installed (make install installs abcmidi as root with apt-get)"


def abc2midi(text: str) -> tuple[bytes | None, str | None]:
    """(MIDI file bytes or None, why not) of the tune ``text``."""
    program = shutil.which("abc2midi")
    if program is None:
        return None, MISSING
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "tune.abc", Path(folder) / "tune.mid"
        source.write_text(text, encoding="utf-8")
        try:
            done = subprocess.run([program, str(source), "-o", str(target), "-silent"], capture_output=True, text=True,
                                  timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, f"abc2midi failed: {error}"
        if not target.exists() or target.stat().st_size == 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            return None, f"abc2midi wrote nothing{': ' + said[-1][:160] if said else ''}"
        return target.read_bytes(), None
