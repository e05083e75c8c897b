"""`noizenet serve` as people and programs use it: the real server process on a free
local port, its page driven in headless Chromium, its JSON API called over HTTP with
good and bad requests; the job queue's limits and failures in-process."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from noizenet.runs import pipeline as runs
from noizenet.serve import server
from noizenet.serve.composer import Composer, GenerateRequest, Limits, RequestError
from noizenet.plugins.abc.text import split_tunes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from serve_load import call  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(server):
    return server.url, server.folder


def generations(run: Path) -> set[str]:
    return {p.parent.name for p in (run / "generations").glob("*/samples.json")}


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make install installs it as root with "
                    "apt-get): the composer page was not driven in a browser")
def test_page_generates_a_tune_with_sheet_music_and_a_player(served):
    url, folder = served
    before = generations(folder / "tiny")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/")
        page.get_by_label("tiny").check()  # pick the run in the list
        page.wait_for_selector("#composer:not([hidden])")
        assert page.is_visible("#meter") and page.is_visible("#key") and not page.is_visible("#seconds")
        page.fill("#meter", "6/8")
        page.fill("#key", "D")
        page.fill("#num_samples", "2")
        page.fill("#seed", "7")  # the page draws a new seed each time: a fixed one makes the test repeat
        page.click("#generate")
        page.wait_for_selector("#results .generation section.sample >> nth=1", timeout=60_000)
        loaded = page.evaluate("""async () => {
            const audio = [...document.querySelectorAll('#results audio')];
            await Promise.all(audio.map(a => a.readyState >= 1 ? null : new Promise(done => {
                a.addEventListener('loadedmetadata', done); a.addEventListener('error', done); })));
            const images = [...document.querySelectorAll('#results img')];
            await Promise.all(images.map(i => i.complete ? null : new Promise(done => {
                i.addEventListener('load', done); i.addEventListener('error', done); })));
            return {audio: audio.map(a => a.duration), svg: images.filter(i => i.src.endsWith('.svg')).map(i => i.naturalWidth),
                    folder: document.querySelector('#results .generation').dataset.folder,
                    status: document.querySelector('#status').textContent};
        }""")
        earlier = page.locator("#earlier details").count()
        browser.close()
    assert not errors, errors
    assert len(loaded["audio"]) == 2 and all(duration > 0 for duration in loaded["audio"]), loaded
    assert loaded["svg"] and all(width > 0 for width in loaded["svg"]), loaded
    made = generations(folder / "tiny") - before
    assert made == {Path(loaded["folder"]).name}, (made, loaded)
    rows = json.loads((folder / "tiny" / loaded["folder"] / "samples.json").read_text())["samples"]
    assert len(rows) == 2 and all(row["asked_meter"] == "6/8" and row["asked_key"] == "D" for row in rows)
    assert all((folder / "tiny" / loaded["folder"] / name).exists() for row in rows for name in row["files"])
    assert earlier >= 2  # this generation and the run's own samples are listed below


def test_api_generates_what_the_cli_generates_for_the_same_seed(served, cli):
    url, folder = served
    status, job = call(f"{url}/api/runs/tiny/generate?wait=true", {"seed": 7, "temperature": 0.9, "num_samples": 2})
    assert status == 200 and job["state"] == "done" and job["seed"] == 7, job
    made = folder / "tiny" / job["folder"]
    assert (folder / "tiny" / "report.html").read_text().count(job["folder"]) > 0  # the report lists it
    assert cli("generate", folder / "tiny", "--seed", "7", "-t", "0.9", "-n", "2", "--out", folder / "cli", "-q").exit_code == 0
    for row in job["samples"]:
        assert (made / f"{row['name']}.abc").read_text() == (folder / "cli" / f"{row['name']}.abc").read_text()
    status, listed = call(f"{url}/api/runs/tiny/generations")
    assert status == 200 and listed[0]["folder"] == job["folder"]
    assert all(f'{job["folder"]}/{name}"' in listed[0]["html"] for row in job["samples"] for name in row["files"])
    status, file = 0, None
    with urllib.request.urlopen(f"{url}/files/tiny/{job['folder']}/{job['samples'][0]['name']}.abc") as answer:
        status, file = answer.status, answer.read().decode()
    assert status == 200 and file == (made / f"{job['samples'][0]['name']}.abc").read_text()


def test_two_jobs_at_once_on_one_run_give_what_each_gives_alone(served):
    url, folder = served
    asked = {"seed": 11, "num_samples": 2}
    with ThreadPoolExecutor(2) as clients:
        both = list(clients.map(lambda _: call(f"{url}/api/runs/tiny/generate?wait=true", asked), range(2)))
    alone = call(f"{url}/api/runs/tiny/generate?wait=true", asked)
    texts = [[(folder / "tiny" / job["folder"] / f"{row['name']}.abc").read_text() for row in job["samples"]]
             for _, job in [*both, alone]]
    assert texts[0] == texts[1] == texts[2] and len({job["folder"] for _, job in [*both, alone]}) == 3


def test_a_job_reports_its_queue_position_and_progress_until_done(served):
    url, _ = served
    status, job = call(f"{url}/api/runs/tiny/generate", {"num_samples": 1})
    assert status == 202 and job["state"] in ("queued", "running", "done") and isinstance(job["seed"], int)
    for _ in range(600):
        status, job = call(f"{url}/api/jobs/{job['id']}")
        if job["state"] == "done":
            break
        threading.Event().wait(0.05)
    assert job["state"] == "done" and job["position"] == 0 and job["progress"] == 1.0 and "<section" in job["html"]


def test_an_uploaded_tune_primes_the_generation(served, tunes_file):
    url, folder = served
    tune = split_tunes(tunes_file.read_text())[3]
    status, upload = post_upload(url, tune.encode(), "my%20tune.abc")
    assert status == 200, upload
    status, job = call(f"{url}/api/runs/tiny/generate?wait=true", {"prime": "file", "upload": upload["upload"]})
    assert status == 200, job
    assert job["samples"][0]["prime"] == "file:my_tune.abc"
    text = (folder / "tiny" / job["folder"] / f"{job['samples'][0]['name']}.abc").read_text()
    assert tune.strip().splitlines()[-1].strip()[:20] in text  # the whole tune, not its first bar, was the prime


def post_upload(url: str, body: bytes, name: str = "x.abc") -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/api/runs/tiny/uploads?name={name}", data=body,
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


BAD = [  # (what, method and path, JSON body or raw bytes, status)
    ("unknown run", "/api/runs/nope/generate", {}, 404),
    ("path traversal", "/files/tiny/%2e%2e/%2e%2e/%2e%2e/etc/passwd", None, 404),
    ("escaping symlink", "/files/tiny/outside/passwd", None, 404),
    ("temperature -1", "/api/runs/tiny/generate", {"temperature": -1}, 422),
    ("temperature abc", "/api/runs/tiny/generate", {"temperature": "abc"}, 422),
    ("10,000 samples", "/api/runs/tiny/generate", {"num_samples": 10000}, 400),
    ("unknown field", "/api/runs/tiny/generate", {"tempo": 3}, 422),
    ("unknown prime", "/api/runs/tiny/generate", {"prime": "silence"}, 400),
    ("a prime ABC does not take", "/api/runs/tiny/generate", {"prime": "crossed"}, 400),
    ("bad meter", "/api/runs/tiny/generate", {"meter": "waltz"}, 400),
    ("seconds for ABC", "/api/runs/tiny/generate", {"seconds": 3}, 400),
    ("a file prime with no upload", "/api/runs/tiny/generate", {"prime": "file", "upload": "../../etc"}, 400),
    ("unknown job", "/api/jobs/123", None, 404),
    ("unknown page", "/nothing/here", None, 404),
    ("malformed JSON", "/api/runs/tiny/generate", b"{temperature: ", 422),
    ("an upload too big", "/api/runs/tiny/uploads?name=big.abc", b"X:1\nK:D\n" + b"abc " * 4000, 413),
    ("an upload that is not music", "/api/runs/tiny/uploads?name=noise.abc", b"\x00\x01 not a tune", 400),
]


@pytest.mark.parametrize("what, path, body, status", BAD, ids=[b[0] for b in BAD])
def test_a_bad_request_gets_a_4xx_with_one_line_and_the_server_goes_on(served, what, path, body, status):
    url, folder = served
    (folder / "tiny" / "outside").unlink(missing_ok=True)
    (folder / "tiny" / "outside").symlink_to("/etc")
    if isinstance(body, bytes):
        request = urllib.request.Request(url + path, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as answer:
                got, answered = answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            got, answered = error.code, json.loads(error.read())
    else:
        got, answered = call(url + path, body)
    assert got == status, answered
    assert list(answered) == ["error"] and "\n" not in answered["error"] and "Traceback" not in answered["error"]
    assert call(url + "/api/runs")[0] == 200


# -- the composer in-process: limits, cancellation, failures -----------------------------
@pytest.fixture
def composer(trained_run, tmp_path):
    shutil.copytree(trained_run, tmp_path / "tiny")
    made = Composer([tmp_path], Limits(max_queued=1, jobs=1))
    yield made
    made.close()


def test_a_full_queue_refuses_with_429_and_stopping_cancels_the_waiting_jobs(composer, monkeypatch):
    release = threading.Event()
    generate = runs.generate_in_new_folder

    def held(*args, **kwargs):  # the one worker is busy until released
        release.wait(60)
        return generate(*args, **kwargs)

    monkeypatch.setattr(runs, "generate_in_new_folder", held)
    running = composer.submit("tiny", GenerateRequest(seed=1))
    while running.state != "running":
        threading.Event().wait(0.01)
    waiting = composer.submit("tiny", GenerateRequest(seed=2))
    assert composer.position(waiting) == 1 and composer.position(running) == 0
    with pytest.raises(RequestError) as refused:
        composer.submit("tiny", GenerateRequest(seed=3))
    assert refused.value.status == 429 and "busy" in str(refused.value)
    composer.stop_queue()  # what Ctrl-C does first
    release.set()
    assert waiting.finished.wait(5) and waiting.state == "cancelled" and waiting.status == 503
    assert running.finished.wait(60) and running.state == "done"  # the running job finished after Ctrl-C
    with pytest.raises(RequestError) as stopping:
        composer.submit("tiny", GenerateRequest(seed=4))
    assert stopping.value.status == 503


def test_a_failed_generation_leaves_no_folder_and_says_why(composer, monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise RuntimeError("the synthesizer fell over")

    monkeypatch.setattr(runs, "generate", broken)
    before = generations(tmp_path / "tiny")
    job = composer.submit("tiny", GenerateRequest(seed=1))
    assert job.finished.wait(60)
    assert job.state == "failed" and job.status == 500 and "the synthesizer fell over" in job.error
    assert generations(tmp_path / "tiny") == before
    assert not [p for p in (tmp_path / "tiny" / "generations").iterdir() if p.name not in before]


def test_serve_warns_off_localhost_and_refuses_a_folder_without_runs(cli, trained_run, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the composer keeps uploads
    asked = {}
    monkeypatch.setattr(server, "serve", lambda composer, host, port, announce, **_: asked.update(host=host))
    shutil.copytree(trained_run, tmp_path / "runs" / "tiny")
    assert cli("serve", tmp_path / "runs", "--host", "0.0.0.0").exit_code == 0 and asked == {"host": "0.0.0.0"}
    assert "the page has no login" in caplog.text
    shutil.copytree(Path(__file__).parent / "third_party_plugin", tmp_path / "not-runs")
    result = cli("serve", tmp_path / "not-runs")
    assert result.exit_code == 2 and "no trained runs in" in result.output
    result = cli("serve", tmp_path / "missing")
    assert result.exit_code == 2 and "no such folder" in result.output
    assert cli("serve", tmp_path / "runs", "--jobs", "0").exit_code == 2
    assert not list(tmp_path.glob("noizenet-uploads-*"))  # each composer made was closed


def test_a_busy_port_is_one_line_and_leaves_no_uploads_folder(cli, trained_run, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = cli("serve", trained_run.parent, "--port", taken.getsockname()[1])
    assert result.exit_code == 2 and "pick another --port" in result.output and "Traceback" not in result.output
    assert not list(tmp_path.glob("noizenet-uploads-*"))


def test_the_form_offers_only_the_primes_the_run_takes(composer):
    offered = composer.describe("tiny")["primes"]
    assert "song" in offered and "start" in offered and "crossed" not in offered  # ABC takes no condition
