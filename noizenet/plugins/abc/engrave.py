"""Sheet music of ABC tunes: SVG engraved by abcm2ps, the ABC community's engraver
(the Debian package ``abcm2ps``, which ``make install`` installs where it can)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from noizenet.api import atomic_write_bytes

FIELD_OR_COMMENT = re.compile(r"^([A-Za-z]:|%)")
MISSING = "abcm2ps is not installed (make install installs it as root with apt-get)"


def with_key(text: str) -> str:
    """``text`` with ``K:C`` closing its header where it has no ``K:`` field (what
    music21 assumes; abcm2ps engraves nothing without one)."""
    if re.search(r"(?m)^K:", text):
        return text
    lines = text.split("\n")
    music = next((i for i, line in enumerate(lines) if line.strip() and not FIELD_OR_COMMENT.match(line)), len(lines))
    return "\n".join([*lines[:music], "K:C", *lines[music:]])


def engrave(text: str, svg_path: Path) -> str | None:
    """Write the first page of the tune ``text`` as SVG to ``svg_path``; return why
    not (None when written)."""
    engraver = shutil.which("abcm2ps")
    if engraver is None:
        return MISSING
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "tune.abc"
        source.write_text(with_key(text), encoding="utf-8")
        try:
            done = subprocess.run([engraver, "-q", "-g", "-O", str(Path(folder) / "tune.svg"), str(source)],
                                  capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"abcm2ps failed: {error}"
        pages = sorted(Path(folder).glob("tune*.svg"))
        if not pages:
            said = (done.stderr or done.stdout).strip().splitlines()
            return f"abcm2ps engraved nothing{': ' + said[-1][:160] if said else ''}"
        atomic_write_bytes(svg_path, pages[0].read_bytes())
    return None
