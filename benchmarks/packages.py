"""Music that ships in Debian packages, fetched by the benchmarks themselves.

``apt-get download`` (the package registry, never at run time and never by ``make
install``), unpacked once into a cache folder: the package's files of one suffix,
also those inside its zip archives (``.pk3``: a game's data). Root not needed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

ARCHIVES = (".pk3", ".zip")  # zip archives in a package whose members are looked into


def package_files(package: str, suffix: str, cache: Path) -> Path:
    """The folder of ``package``'s ``*suffix`` files (a flat folder, names kept),
    downloaded and unpacked on the first call."""
    folder = cache / package
    if any(folder.glob(f"*{suffix}")):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["apt-get", "download", package], cwd=scratch, check=True, capture_output=True)
        (deb,) = Path(scratch).glob("*.deb")
        unpacked = Path(scratch) / "x"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        for found in sorted(unpacked.rglob("*")):
            if found.suffix.lower() == suffix:
                shutil.copy(found, folder / found.name)
            elif found.suffix.lower() in ARCHIVES:
                with zipfile.ZipFile(found) as archive:
                    for member in archive.namelist():
                        if member.lower().endswith(suffix):
                            (folder / Path(member).name).write_bytes(archive.read(member))
    return folder
