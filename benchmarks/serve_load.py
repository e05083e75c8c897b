"""The composer page under load: `noizenet serve` on the shipped folk-abc model.

Starts the real server (127.0.0.1, a free port) on a copy of the pretrained
folk-abc run, asks for one tune at a time six times (the first request: the goal is
within 2 s; a tune's time grows with its length, printed beside it), then
sends REQUESTS generation requests (one tune each, ``?wait=true``) from CLIENTS
concurrent clients, and prints every request's fate, p50 and p95 latency, the
server's peak resident memory, and whether the run folder holds exactly one new
generation per request (none lost, none written twice). Bounded: each request gives
up after 120 s and the whole load after --max-seconds; the server stops by Ctrl-C
(SIGINT) at the end, as a user stops it.

    .venv/bin/python benchmarks/serve_load.py [--requests 50] [--clients 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

from noizenet.runs import pretrained  # noqa: E402

REQUEST_TIMEOUT_S = 120
IDLE_SEEDS = 5  # requests after the first, one at a time, before the load


def start_server(folder: Path, *options: str, timeout: float = 120.0,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`noizenet serve FOLDER OPTIONS --port 0` started (with ``env`` over this
    process's environment), and its address once it answers."""
    process = subprocess.Popen([sys.executable, "-m", "noizenet", "serve", str(folder), "--port", "0", *options],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    line = process.stdout.readline()  # "noizenet composer: http://127.0.0.1:PORT/ ..."
    if "http://" not in line:
        process.kill()
        raise RuntimeError(f"the server did not start: {line}{process.stderr.read()[-3000:]}")
    url = line.split()[2].rstrip("/")
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/api/runs", timeout=5).read()
            return process, url
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"the server never answered: {process.stderr.read()[-3000:]}") from None
            time.sleep(0.1)


def stop_server(process: subprocess.Popen, timeout: float = 60.0) -> tuple[int, str]:
    """Ctrl-C (SIGINT) and wait: the exit code and what the server wrote on stderr."""
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err


def call(url: str, body: dict | None = None, timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, dict]:
    """(HTTP status, JSON answer) of a GET, or of a POST of ``body`` as JSON."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def peak_memory_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="give up on the load after this long")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        run, _ = pretrained.pretrained_run("folk-abc", runs)
        process, url = start_server(runs, "--max-queued", str(args.requests))
        generate = f"{url}/api/runs/folk-abc/generate?wait=true"
        try:
            alone = []  # one request at a time on an idle server: the first, then IDLE_SEEDS more
            for seed in range(IDLE_SEEDS + 1):
                started = time.perf_counter()
                status, answer = call(generate, {"seed": seed})
                assert status == 200, answer
                alone.append((time.perf_counter() - started, answer["samples"][0]["chars"]))

            def one(index: int) -> tuple[int, float, str | None]:
                begun = time.perf_counter()
                code, answer = call(generate, {"seed": 1000 + index})
                return code, time.perf_counter() - begun, answer.get("folder") or answer.get("error")

            with ThreadPoolExecutor(args.clients) as clients:
                futures = [clients.submit(one, i) for i in range(args.requests)]
                done, late = wait(futures, timeout=args.max_seconds)
            results = [f.result() for f in done]
            peak = peak_memory_mb(process.pid)
        finally:
            code, err = stop_server(process)
        answered = [r for r in results if r[0] == 200]
        folders = [folder for _, _, folder in answered]
        on_disk = sorted(p.parent.name for p in (run.generations).glob("*/samples.json"))
        latencies = sorted(seconds for _, seconds, _ in answered)
        result = {
            "requests": args.requests, "clients": args.clients,
            "first_tune_s": round(alone[0][0], 3), "first_tune_goal_s": 2.0,
            "alone_s_and_chars": [(round(seconds, 2), chars) for seconds, chars in alone],
            "alone_median_s": round(statistics.median(seconds for seconds, _ in alone), 3),
            "answered_200": len(answered), "failed": [r for r in results if r[0] != 200][:5], "unanswered": len(late),
            "p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "p95_s": round(latencies[max(0, int(0.95 * len(latencies)) - 1)], 3) if latencies else None,
            "server_peak_mb": round(peak, 1),
            "distinct_folders": len(set(folders)), "generations_on_disk": len(on_disk),
            "every_request_one_folder": len(set(folders)) == len(folders) == args.requests == len(on_disk) - len(alone),
            "server_exit_code": code, "server_stopped_cleanly": code == 0 and "Traceback" not in err,
        }
        report("serve_load", result)


if __name__ == "__main__":
    main()
