"""What `noizenet serve` refuses to the web pages its user visits, each through the
real server process (uvicorn on a free loopback port), and what it keeps bounded:
foreign Host names, cross-site writes, form Content-Types, bodies over their limits
(chunked ones too, without holding them), the uploads folder, damaged run files,
absolute paths in errors, hostile names on the page."""

from __future__ import annotations

import http.client
import json
import re
import select
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import sync_playwright

from noizenet.runs import pipeline as runs
from noizenet.serve.composer import Composer, Limits
from noizenet.errors import RequestError
from noizenet.plugins.abc.text import split_tunes
from noizenet.serve.uploads import UploadStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def request(url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            host: str | None = None) -> tuple[int, dict]:
    """(status, JSON answer) of one request, with the headers exactly as given
    (``host`` replaces the Host header that names the server)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        answer = connection.getresponse()
        raw = answer.read()
        try:
            return answer.status, json.loads(raw)
        except ValueError:
            return answer.status, {"text": raw.decode(errors="replace")}
    finally:
        connection.close()


JSON = {"Content-Type": "application/json"}
OCTETS = {"Content-Type": "application/octet-stream"}


def tune(tunes_file: Path, index: int = 3) -> bytes:
    return split_tunes(tunes_file.read_text())[index].encode()


def uploads_on_disk(server) -> list[Path]:
    """The upload folders the server holds now."""
    return [p for root in server.tmp.glob("noizenet-uploads-*") for p in root.iterdir()]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.evil.example", "localhost.evil"])
def test_a_host_that_does_not_name_the_server_is_refused_before_any_route(server, host):
    for method, path in [("GET", "/api/runs"), ("GET", "/files/tiny/config.toml"), ("GET", "/")]:
        status, _ = request(server.url, method, path, host=host)
        assert status == 400, (host, path)
    status, _ = request(server.url, "POST", "/api/runs/tiny/generate", b"{}", JSON, host=host)
    assert status == 400


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "LOCALHOST"])
def test_the_server_answers_to_its_own_names(server, host):
    port = urlsplit(server.url).port
    status, runs_listed = request(server.url, "GET", "/api/runs", host=f"{host}:{port}")
    assert status == 200 and runs_listed[0]["name"] == "tiny"


CROSS_SITE = [  # (what, extra headers) of a write another page makes
    ("another origin", {"Origin": "http://evil.example"}),
    ("another port of localhost", {"Origin": "http://localhost:1"}),
    ("a sandboxed frame or a file", {"Origin": "null"}),
    ("another site, by fetch metadata", {"Sec-Fetch-Site": "cross-site"}),
    ("a sibling site, by fetch metadata", {"Sec-Fetch-Site": "same-site"}),
]


@pytest.mark.parametrize("what, headers", CROSS_SITE, ids=[c[0] for c in CROSS_SITE])
def test_a_cross_origin_write_is_refused_and_queues_nothing(server, tunes_file, what, headers):
    before = {p.name for p in (server.folder / "tiny" / "generations").glob("*")}
    status, answer = request(server.url, "POST", "/api/runs/tiny/generate", b'{"seed": 1}', {**JSON, **headers})
    assert status == 403 and list(answer) == ["error"], answer
    status, answer = request(server.url, "POST", "/api/runs/tiny/uploads?name=t.abc", tune(tunes_file),
                             {**OCTETS, **headers})
    assert status == 403, answer
    assert {p.name for p in (server.folder / "tiny" / "generations").glob("*")} == before


def test_a_same_origin_write_and_a_program_without_origin_are_served(server, tunes_file):
    port = urlsplit(server.url).port
    same = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    status, answer = request(server.url, "POST", "/api/runs/tiny/uploads?name=t.abc", tune(tunes_file), {**OCTETS, **same})
    assert status == 200 and answer["name"] == "t.abc", answer
    status, job = request(server.url, "POST", "/api/runs/tiny/generate?wait=true",
                          json.dumps({"prime": "file", "upload": answer["upload"], "seed": 3}).encode(), JSON)
    assert status == 200 and job["state"] == "done", job  # curl sends no Origin


FORM_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]


@pytest.mark.parametrize("kind", FORM_TYPES, ids=lambda k: str(k))
def test_a_write_a_web_form_could_send_is_refused_with_415(server, tunes_file, kind):
    headers = {} if kind is None else {"Content-Type": kind}
    status, answer = request(server.url, "POST", "/api/runs/tiny/uploads?name=t.abc", tune(tunes_file), headers)
    assert status == 415 and "Content-Type" in answer["error"], answer
    status, answer = request(server.url, "POST", "/api/runs/tiny/generate", b'{"seed": 1}', headers)
    assert status == 415, answer


def test_the_api_asks_for_json_not_just_any_type(server):
    status, answer = request(server.url, "POST", "/api/runs/tiny/generate", b'{"seed": 1}', OCTETS)
    assert status == 415 and "application/json" in answer["error"], answer


def test_a_json_body_over_the_limit_is_refused(server):
    body = json.dumps({"key": "D" * 100_000}).encode()
    status, answer = request(server.url, "POST", "/api/runs/tiny/generate", body, JSON)
    assert status == 413 and "larger than the limit" in answer["error"], answer


def peak_mb(pid: int) -> float:
    return next(int(line.split()[1]) / 1024 for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmHWM:"))


def send_chunked(url: str, path: str, headers: dict, total: int, chunk: int = 1 << 16) -> tuple[int, dict, int]:
    """POST ``total`` bytes as a chunked body, stopping when the server answers or
    closes: (status, JSON answer, bytes sent)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTransfer-Encoding: chunked\r\n"
    sock.sendall((head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
    block, sent = f"{chunk:x}\r\n".encode() + b"X" * chunk + b"\r\n", 0
    try:
        while sent < total and not select.select([sock], [], [], 0)[0]:  # until the server answers
            try:
                sock.sendall(block)
            except OSError:  # the server answered and closed
                break
            sent += chunk
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1])
    body = answer.split(b"\r\n\r\n", 1)[1]
    return status, json.loads(body[body.index(b"{"):]), sent


def test_a_chunked_upload_over_the_cap_is_refused_without_holding_it(server):
    before = peak_mb(server.process.pid)
    status, answer, sent = send_chunked(server.url, "/api/runs/tiny/uploads?name=big.abc", OCTETS, 256 << 20)
    assert status == 413 and "larger than the limit" in answer["error"], answer
    assert sent < 64 << 20  # it stopped reading long before the body ended ...
    assert peak_mb(server.process.pid) - before < 16  # ... and held none of it
    assert not uploads_on_disk(server)


def test_a_chunked_json_body_over_the_limit_is_refused(server):
    status, answer, _ = send_chunked(server.url, "/api/runs/tiny/generate", JSON, 1 << 20)
    assert status == 413, answer


def test_many_small_uploads_leave_the_upload_folder_within_its_cap(server, tunes_file):
    """500 uploads, none used: the folder holds the most the server keeps, the rest are
    refused; one used is removed and cannot be used again."""
    body, statuses = tune(tunes_file), []
    for index in range(500):
        status, answer = request(server.url, "POST", f"/api/runs/tiny/uploads?name=t{index}.abc", body, OCTETS)
        statuses.append(status)
        assert status in (200, 429), answer
    held = uploads_on_disk(server)
    assert len(held) == 4 and statuses.count(200) == 4  # serve --max-uploads 4
    assert sum(f.stat().st_size for p in held for f in p.iterdir()) <= Limits.max_upload_total_bytes
    upload_id = held[0].name  # used once: then removed, and a second use is refused
    status, job = request(server.url, "POST", "/api/runs/tiny/generate?wait=true",
                          json.dumps({"prime": "file", "upload": upload_id}).encode(), JSON)
    assert status == 200 and not (held[0]).exists(), job
    status, answer = request(server.url, "POST", "/api/runs/tiny/generate",
                             json.dumps({"prime": "file", "upload": upload_id}).encode(), JSON)
    assert status == 400 and "no upload" in answer["error"]
    for path in uploads_on_disk(server):  # leave no uploads to the other tests
        request(server.url, "POST", "/api/runs/tiny/generate?wait=true",
                json.dumps({"prime": "file", "upload": path.name}).encode(), JSON)
    assert not uploads_on_disk(server)


def test_an_unused_upload_is_removed_after_its_time(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    store = UploadStore(max_count=2, max_total_bytes=100, ttl_s=0.05)
    with store.receive("../a b.abc") as first:
        store.write(first, b"X:1")
    assert first.path.name == "a_b.abc" and first.path.read_bytes() == b"X:1"
    with pytest.raises(RequestError) as refused, store.receive("c.abc") as second:
        store.write(second, b"Y" * 101)  # past the bytes of all uploads together
    assert refused.value.status == 413 and not second.path.parent.exists()
    time.sleep(0.1)
    with store.receive("d.abc"):  # each new upload first removes the expired ones
        pass
    assert not first.path.parent.exists()
    store.close()
    assert not store.root.exists()


def test_damaged_run_files_give_json_and_the_run_list_still_answers(server):
    damaged = server.folder / "damaged"
    shutil.copytree(server.folder / "tiny", damaged, symlinks=True)
    try:
        (damaged / "metrics.json").write_text("{not json")
        generation = damaged / "generations" / "20260101-000000"
        generation.mkdir(parents=True)
        (generation / "samples.json").write_text('{"samples": [')
        status, listed = request(server.url, "GET", "/api/runs")
        assert status == 200 and {r["name"] for r in listed} >= {"tiny", "damaged"}
        row = next(r for r in listed if r["name"] == "damaged")
        assert "metrics.json cannot be read" in row["error"]
        assert next(r for r in listed if r["name"] == "tiny")["error"] is None
        status, made = request(server.url, "GET", "/api/runs/damaged/generations")
        broken = next(g for g in made if g["folder"] == "generations/20260101-000000")
        assert status == 200 and "samples.json cannot be read" in broken["error"], made
        assert made[-1]["samples"]  # the run's own samples are still listed
        for answer in (listed, made):
            assert str(server.folder) not in json.dumps(answer)
    finally:
        shutil.rmtree(damaged)


def test_errors_carry_no_absolute_paths(server):
    for method, path, body in [("POST", "/api/runs/tiny/generate", b'{"prime": "file", "upload": "0123456789abcdef"}'),
                               ("GET", "/files/tiny/..%2f..%2fetc/passwd", None), ("GET", "/api/runs/nope", None),
                               ("POST", "/api/runs/tiny/uploads?name=x.abc", b"\x00 not music")]:
        status, answer = request(server.url, method, path, body, OCTETS if "uploads" in path else JSON)
        assert 400 <= status < 500 and list(answer) == ["error"], answer
        assert str(server.folder) not in answer["error"] and str(server.tmp) not in answer["error"], answer


def test_the_page_sends_a_csp_and_refuses_framing(server):
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", "/")
    answer = connection.getresponse()
    answer.read()
    policy = answer.getheader("Content-Security-Policy")
    assert "frame-ancestors 'none'" in policy and "script-src 'sha256-" in policy and "unsafe-inline" not in \
        policy.split("script-src")[1].split(";")[0]
    assert answer.getheader("X-Frame-Options") == "DENY"
    connection.close()


def test_loading_one_run_keeps_no_other_run_waiting(trained_run, tmp_path, monkeypatch):
    shutil.copytree(trained_run, tmp_path / "slow")
    shutil.copytree(trained_run, tmp_path / "quick")
    composer = Composer([tmp_path], Limits(jobs=1))
    release, entered = threading.Event(), threading.Event()
    load = runs.session_from_run

    def session_from_run(run_dir, **kwargs):
        if run_dir.root.name == "slow":
            entered.set()
            release.wait(60)
        return load(run_dir, **kwargs)

    monkeypatch.setattr(runs, "session_from_run", session_from_run)
    try:
        slow = threading.Thread(target=composer.load, args=("slow",))
        slow.start()
        assert entered.wait(30)
        started = time.perf_counter()
        composer.describe("quick")  # loads the other run while "slow" is still loading
        assert time.perf_counter() - started < 30 and slow.is_alive()
        release.set()
        slow.join(60)
        assert composer.load("slow").session.run_dir.root.name == "slow"
    finally:
        release.set()
        composer.close()


HOSTILE = "<img src=x onerror=\"window.pwned='name'\">"


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make install installs it as root with "
                    "apt-get): the page was not checked in a browser")
def test_hostile_titles_and_file_names_render_as_text_in_chromium(server, tunes_file):
    hostile_run = server.folder / HOSTILE.replace("/", "_")
    shutil.copytree(server.folder / "tiny", hostile_run, symlinks=True)
    generation = hostile_run / "generations" / "20260101-000000"
    generation.mkdir(parents=True)
    row = {"name": "<script>window.pwned='row'</script>", "prime": HOSTILE, "temperature": 1.0,
           "files": ["<svg onload=window.pwned=1>.abc"], "title": "<b>bold</b><iframe src=/>"}
    (generation / "samples.json").write_text(json.dumps({"samples": [row]}))
    text = tune(tunes_file).decode().replace("\nT:", f"\nT:{HOSTILE}", 1)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{server.url}/?run={quote(hostile_run.name)}")
            page.wait_for_selector("#earlier details")
            page.select_option("#prime", "file")
            page.set_input_files("#file", files=[{"name": f"{HOSTILE}.abc", "mimeType": "text/plain",
                                                  "buffer": text.encode()}])
            page.fill("#seed", "5")
            page.click("#generate")
            page.wait_for_selector("#results .generation section.sample", timeout=60_000)
            page.evaluate("document.querySelectorAll('#earlier details').forEach(d => d.open = true)")
            found = page.evaluate("""() => ({pwned: window.pwned, injected: document.querySelectorAll(
                'img[src="x"], script:not(:first-of-type), iframe, svg[onload], b > b').length,
                text: document.body.innerText})""")
            browser.close()
    finally:
        shutil.rmtree(hostile_run)
    assert not errors, errors
    assert found["pwned"] is None and found["injected"] == 0, found
    assert HOSTILE in found["text"]  # the run's name, shown as text
    assert "<script>window.pwned='row'</script>" in found["text"]
    assert "file:" + re.sub(r"[^A-Za-z0-9._-]", "_", HOSTILE) + ".abc" in found["text"]  # the upload's name, made safe
