"""report.html as a person uses it: opened from disk in a browser, its players and
sheet music load. The browser test needs Chromium (installed by `make install`
where it can); without it that test is skipped and says why."""

import html
import json
import re
import shutil
import subprocess

import pytest

from noizenet.plugins.abc.text import split_tunes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Appended to a copy of the page: waits for every audio element's metadata and every
# image, then writes what loaded into the DOM, which Chromium dumps.
CHECK = """<script>
window.addEventListener("load", async () => {
  const audios = [...document.querySelectorAll("audio")];
  await Promise.all(audios.map(a => a.readyState >= 1 ? null : new Promise(done => {
    a.addEventListener("loadedmetadata", done); a.addEventListener("error", done);
  })));
  const result = {
    audio: audios.map(a => [a.getAttribute("src"), a.duration]),
    images: [...document.querySelectorAll("img")].map(i => [i.getAttribute("src"), i.naturalWidth]),
  };
  document.body.setAttribute("data-check", JSON.stringify(result));
});
</script>"""


def test_report_html_links_a_player_and_sheet_music_for_every_sample(trained_run):
    page = (trained_run / "report.html").read_text()
    rows = json.loads((trained_run / "metrics.json").read_text())["samples"]
    for row in rows:
        for name in row["files"]:
            assert f'samples/{name}"' in page
        if f"{row['name']}.wav" in row["files"]:
            assert f'<audio controls preload="metadata" src="samples/{row["name"]}.wav">' in page
        if f"{row['name']}.svg" not in row["files"]:
            assert "sheet error: " in page  # why there is no sheet music, under the sample
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # nothing fetched


def test_compare_writes_an_html_page_too(cli, trained_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(trained_run, other)
    assert cli("compare", trained_run, other, "--out", tmp_path / "compared", "-q").exit_code == 0
    page = (tmp_path / "compared" / "comparison.html").read_text()
    assert "<table>" in page and 'src="val_loss.png"' in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make install installs it as root with "
                    "apt-get): report.html was not opened in a browser")
def test_report_html_opens_in_chromium_with_every_player_and_sheet_loaded(cli, trained_run, tunes_file, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    tune = tmp_path / "tune.abc"  # a real tune's opening, continued by two characters: it parses and plays
    tune.write_text(split_tunes(tunes_file.read_text())[0])
    assert cli("generate", run, "--prime-file", tune, "--max-length", "2", "-n", "2", "-q").exit_code == 0
    rows = json.loads((run / "metrics.json").read_text())["samples"]
    folder = sorted((run / "generations").iterdir())[-1]
    later = json.loads((folder / "samples.json").read_text())["samples"]
    checked = run / "report-check.html"
    checked.write_text((run / "report.html").read_text().replace("</body>", CHECK + "</body>"))
    try:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
             "--allow-file-access-from-files", "--virtual-time-budget=20000", "--dump-dom", checked.as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        checked.unlink()
    found = re.search(r'data-check="([^"]*)"', done.stdout)
    assert found, done.stderr[-2000:]
    result = json.loads(html.unescape(found.group(1)))
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    shown = [(f"samples/{f}", row) for row in rows for f in row["files"]]
    shown += [(f"generations/{folder.name}/{f}", row) for row in later for f in row["files"]]
    wavs = [src for src, _ in shown if src.endswith(".wav")]
    assert len(wavs) >= 2 and sorted(src for src, _ in result["audio"]) == sorted(wavs)
    assert all(duration > 0 for _, duration in result["audio"]), result["audio"]
    assert all(width > 0 for _, width in result["images"]), result["images"]
    sheets = {src for src, _ in result["images"] if src.endswith(".svg")}
    valid = [src for src, row in shown if src.endswith(".abc") and row["valid"]]
    assert len(sheets) >= 2 and {src.replace(".abc", ".svg") for src in valid} <= sheets
