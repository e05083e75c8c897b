"""The built-ins ship inside the wheel: build it, install it in a clean venv, list plugins, generate
from the pretrained model it carries."""

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_with_its_plugins_in_a_clean_venv(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", REPO],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("noizenet-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # Third-party dependencies (torch, music21, ...) come from this environment; its
    # site folder is put on the path without running its .pth files, so the
    # editable install of the repository stays out of the clean venv.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel], check=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.check_output(
        [python, "-c", "import noizenet.plugins.abc.representation as m, noizenet.datasets.abc_files as d; print(m.__file__); print(d.__file__)"],
        cwd=elsewhere, text=True,
    )
    assert all(line.startswith(str(site)) for line in where.split()), where
    listing = subprocess.run([venv / "bin" / "noizenet", "plugins"], cwd=elsewhere, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    for name in ("abc", "lstm", "gru", "rnn", "start", "song", "abc-files", "music21-abc"):
        assert f"  {name} " in listing.stdout
    shipped = subprocess.run([venv / "bin" / "noizenet", "generate", "--pretrained", "folk-abc", "-n", "1", "-q"],
                             cwd=elsewhere, capture_output=True, text=True)
    assert shipped.returncode == 0, shipped.stderr
    assert len(list((elsewhere / "runs" / "folk-abc" / "generations").glob("*/*.abc"))) == 1
    page = subprocess.run([python, "-c", "from noizenet.serve import server; print(server.PAGE.read_text()[:200])"],
                          cwd=elsewhere, capture_output=True, text=True)
    assert page.returncode == 0 and "noizenet composer" in page.stdout, page.stderr  # noizenet serve's page ships
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/")[0] for name in archive.namelist()}
    assert top_level == {"noizenet", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
