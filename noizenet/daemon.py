"""The warm daemon: one background process that has imported torch and noizenet
once and forks a child for each ``noizenet`` command, so that a command starts in
a fraction of a second instead of paying Python's imports (2-3 s on 2 cores)
every time.

``noizenet daemon start`` starts it; the ``noizenet`` console script (:func:`main`)
hands its command to the daemon of this Python and noizenet when one is running,
and runs the command itself otherwise. The child runs the command as a fresh
process would: the client's arguments, folder, environment, umask, resource
limits, CPU set and niceness, and its stdin, stdout and stderr (passed over the
socket, so progress bars see the terminal). Signals sent to the client (Ctrl-C,
``kill``, Ctrl-Z) go on to the child; the client exits with the child's status.
The daemon declines a command, which then runs in the client, when what was
fixed at import differs: ``PYTHON*`` and thread-count variables, the cgroup
(``systemd-run -p MemoryMax=``), higher limits or lower niceness than its own.
It exits after ``--idle-minutes`` without a command, and when noizenet's code or
the installed packages change (the next command runs in the client).

This module imports only the standard library (POSIX: Linux, macOS): the client
must not pay for the imports it exists to avoid.
"""

from __future__ import annotations

import atexit
import fcntl
import gc
import hashlib
import importlib
import importlib.metadata
import json
import logging
import os
import pkgutil
import resource
import select
import signal
import site
import socket
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from noizenet.errors import NoizenetError

DISABLE_ENV = "NOIZENET_DAEMON"  # "0": the console script never uses a daemon
# variables read when Python and the libraries start (thread pools, paths, hash seed):
# a command whose values differ from the daemon's runs in the client
IMPORT_TIME_PREFIXES = ("PYTHON", "OMP_", "OPENBLAS_", "MKL_", "NUMBA_", "MPL", "LD_", "KMP_", "TORCH_")
LIMITS = (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_RSS, resource.RLIMIT_NOFILE,
          resource.RLIMIT_CPU, resource.RLIMIT_FSIZE, resource.RLIMIT_STACK, resource.RLIMIT_CORE)
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_LIMITS = ("memory.max", "memory.high", "memory.swap.max", "cpu.max", "pids.max")
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
CONNECT_TIMEOUT_S = 2.0  # a daemon slower than this to take a request is passed by
REQUEST_TIMEOUT_S = 5.0  # a client slower than this to send its request is dropped
HEADER = struct.Struct("!Q")  # bytes of the JSON request that follows


class DaemonError(NoizenetError):
    """The daemon cannot be started or its folder is unsafe."""


# -- where the daemon listens -------------------------------------------------------
def socket_path() -> Path:
    """The socket of the daemon for this Python and this noizenet:
    ``$XDG_RUNTIME_DIR/noizenet-UID/daemon-HASH.sock`` (else the temp folder), in a
    folder only this user may enter."""
    folder = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"noizenet-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid() or folder.stat().st_mode & 0o077:
        raise DaemonError(f"{folder} must belong to you and be closed to others (chmod 700)")
    package = Path(__file__).resolve().parent
    digest = hashlib.sha1(f"{os.path.realpath(sys.executable)}\0{package}".encode()).hexdigest()[:12]
    return folder / f"daemon-{digest}.sock"


def log_path() -> Path:
    """Where a started daemon writes its own messages."""
    return socket_path().with_suffix(".log")


def loaded_sources() -> list[str]:
    """The files of every noizenet module loaded in this process (the daemon: all of
    them, after :func:`preload`)."""
    modules = [m for name, m in list(sys.modules.items()) if name == "noizenet" or name.startswith("noizenet.")]
    return sorted({m.__file__ for m in modules if getattr(m, "__file__", None)})


def code_fingerprint(sources: list[str]) -> str:
    """Changes when noizenet's code or the installed packages change: the
    modification times of ``sources`` and of the site-packages folders (a package
    installed, upgraded or removed adds or removes an entry there)."""
    folders = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], site.getusersitepackages()}
    stamps = [f"{p}:{os.stat(p).st_mtime_ns}" for p in [*sources, *sorted(folders)] if os.path.exists(p)]
    return hashlib.sha1("\n".join(stamps).encode()).hexdigest()


# -- the client: the console script ---------------------------------------------------
def main() -> None:
    """The ``noizenet`` console script: the command in the daemon when one takes it,
    else here."""
    if os.environ.get(DISABLE_ENV, "1") != "0" and "RANK" not in os.environ:
        code = run_in_daemon(sys.argv[1:])
        if code is not None:
            sys.exit(code)
    # the command runs here: only now pay for torch and the rest
    importlib.import_module("noizenet.cli").main()


def process_state() -> dict[str, Any]:
    """What a forked child must take from the client to behave as the client would."""
    umask = os.umask(0)
    os.umask(umask)
    return {
        "cwd": os.getcwd(),
        "path": [os.path.realpath(p) for p in sys.path],  # where modules are found: the console script's folder first
        "env": dict(os.environ),
        "umask": umask,
        "limits": {str(limit): resource.getrlimit(limit) for limit in LIMITS},
        "cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "cgroup": _cgroup_limits(),
        "encoding": sys.stdout.encoding if sys.stdout else "utf-8",
    }


def _cgroup_limits() -> dict[str, float] | str:
    """The tightest memory, CPU (cores) and process limits of this process's cgroup
    and its parents (cgroup v2); under cgroup v1, the membership as written."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    if len(lines) != 1 or not lines[0].startswith("0::"):
        return "\n".join(lines)
    limits: dict[str, float] = {}
    folder = CGROUP_ROOT / lines[0][3:].lstrip("/")
    for level in [folder, *folder.parents]:
        if not level.is_relative_to(CGROUP_ROOT):
            break
        for name in CGROUP_LIMITS:
            try:
                words = (level / name).read_text().split()
            except OSError:
                continue
            value = float("inf") if words[0] == "max" else float(words[0]) / (float(words[1]) if name == "cpu.max" else 1)
            limits[name] = min(limits.get(name, float("inf")), value)
    return limits


def _ask(request: dict[str, Any], fds: list[int] = ()) -> tuple[socket.socket, Any] | None:
    """Send a request; the connection and a reader of the daemon's JSON lines, or
    None when no daemon answers."""
    try:
        path = socket_path()
    except (OSError, DaemonError):
        return None
    if not path.exists():
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(CONNECT_TIMEOUT_S)
    try:
        client.connect(str(path))
        body = json.dumps(request).encode()
        socket.send_fds(client, [HEADER.pack(len(body))], list(fds))
        client.sendall(body)
    except OSError:  # a socket left by a daemon that died, or one too busy to answer
        client.close()
        return None
    client.settimeout(None)
    return client, client.makefile("r", encoding="utf-8")


def run_in_daemon(argv: list[str]) -> int | None:
    """Run ``noizenet ARGV`` in the daemon: its exit status, or None when no daemon
    runs or it declined (then the caller runs the command itself)."""
    for stream in (sys.stdout, sys.stderr):
        if stream:
            stream.flush()
    child: list[int] = []  # the command's pid, once the daemon has said it
    pending: list[int] = []  # signals that came before it
    _forward_signals(child, pending)
    asked = _ask({"run": argv, **process_state()}, [0, 1, 2])
    if asked is None:
        _restore_signals(pending)
        return None
    client, replies = asked
    with client, replies:
        first = _reply(replies)
        if "pid" not in first:
            _restore_signals(pending)
            if first.get("declined"):
                print(f"noizenet: the daemon declined ({first['declined']}); running here", file=sys.stderr)
            return None
        child.append(first["pid"])
        for signum in pending:
            _kill(first["pid"], signum)
        last = _reply(replies)
    if "exit" not in last:
        print(f"noizenet: lost the daemon; the command (pid {first['pid']}) may still run", file=sys.stderr)
        return 1
    code = last["exit"]
    return 128 - code if code < 0 else code  # killed by a signal: the shell's 128 + number


def _reply(replies: Any) -> dict[str, Any]:
    line = replies.readline()
    return json.loads(line) if line else {}


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _forward_signals(child: list[int], pending: list[int]) -> None:
    """Signals to this process go on to the command's (``child``, once known; until
    then they wait in ``pending``); Ctrl-Z stops both."""
    def forward(signum: int, frame: Any) -> None:
        if child:
            _kill(child[0], signum)
        else:
            pending.append(signum)

    def stop(signum: int, frame: Any) -> None:
        forward(signal.SIGSTOP, frame)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stops here until the shell continues it

    def cont(signum: int, frame: Any) -> None:
        forward(signal.SIGCONT, frame)
        signal.signal(signal.SIGTSTP, stop)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.signal(signal.SIGTSTP, stop)
    signal.signal(signal.SIGCONT, cont)


def _restore_signals(pending: list[int]) -> None:
    """Default handlers again, for the command to run here; a signal that came while
    the daemon was asked is delivered now."""
    for signum in (*FORWARDED, signal.SIGTSTP, signal.SIGCONT):
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
    for signum in pending:
        os.kill(os.getpid(), signum)


def status() -> dict[str, Any] | None:
    """The running daemon's pid, start time and commands served, or None."""
    asked = _ask({"status": True})
    if asked is None:
        return None
    client, replies = asked
    with client, replies:
        return _reply(replies) or None


def stop() -> int | None:
    """Ask the daemon to exit (commands it runs go on); its pid, or None if none ran."""
    asked = _ask({"stop": True})
    if asked is None:
        return None
    client, replies = asked
    with client, replies:
        return _reply(replies).get("stopped")


def start(idle_minutes: float, wait_s: float = 120.0) -> dict[str, Any]:
    """Start a daemon in the background (unless one runs; of two starts at once, the
    second finds the first's) and wait until it answers: its status."""
    with open(socket_path().with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        running = status()
        if running:
            return running
        # started in the folder of the Python (and of the `noizenet` script), so that its
        # module search path is the script's, whatever the folder it is started from
        with open(log_path(), "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "noizenet", "daemon", "serve", "--idle-minutes", str(idle_minutes)],
                cwd=os.path.dirname(sys.executable), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                start_new_session=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DaemonError(f"the daemon exited with {process.returncode}: see {log_path()}")
            running = status()
            if running:
                return running
            time.sleep(0.1)
    raise DaemonError(f"the daemon did not answer within {wait_s:.0f} s: see {log_path()}")


# -- the daemon -------------------------------------------------------------------------
def preload() -> list[str]:
    """Import torch (with torch._dynamo, which the optimizers import on first use),
    the CLI, noizenet's own plugins (its entry points) and every module of their
    packages, so that each forked command finds them loaded. Third-party plugins are
    not imported here: each command loads them afresh. The modules that could not be
    imported (an optional dependency missing)."""
    builtin = [e.module for e in importlib.metadata.entry_points(group="noizenet") if e.module.startswith("noizenet.")]
    for name in ("torch", "torch._dynamo", "noizenet.cli", *builtin):
        importlib.import_module(name)
    missing, walked = [], set()
    while packages := [m for n, m in list(sys.modules.items())
                       if (n == "noizenet" or n.startswith("noizenet.")) and hasattr(m, "__path__") and n not in walked]:
        for package in packages:  # every module of every noizenet package loaded so far
            walked.add(package.__name__)
            for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
                if info.name not in sys.modules and not info.name.endswith("__main__"):
                    try:
                        importlib.import_module(info.name)
                    except ImportError:
                        missing.append(info.name)
    return sorted(missing)


STALE = "noizenet's code or the installed packages changed since it started"


class Daemon:
    """Accepts commands on ``path`` and forks a child for each (see the module)."""

    def __init__(self, path: Path, idle_minutes: float) -> None:
        self.path = path
        self.idle_s = 60 * idle_minutes
        self.sources = loaded_sources()
        self.fingerprint = code_fingerprint(self.sources)
        self.started = time.time()
        self.served = 0
        self.children: dict[int, socket.socket] = {}  # pid -> the connection awaiting its exit status
        self.last_active = time.monotonic()
        self.own_state = process_state()

    def serve(self) -> str:
        """Listen until idle, asked to stop or out of date, then wait for the commands
        still running (their callers get their exit status): why it stopped."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # wakes the select through the pipe
        previous_wakeup = signal.set_wakeup_fd(wake_write)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.default_int_handler)
        listener: socket.socket | None = self._listen()
        self.closed_in_children = [listener.fileno(), wake_read, wake_write]
        self.stopped = f"idle for {self.idle_s / 60:g} minutes"
        try:
            while self.children or (listener is not None and not self._idle()):
                ready, _, _ = select.select([wake_read] + ([listener] if listener else []), [], [], 1.0)
                if wake_read in ready:
                    os.read(wake_read, 512)
                    self._reap()
                if listener in ready and not self._accept(listener):
                    listener = self._stop_listening(listener)  # no new commands; those running go on
        except KeyboardInterrupt:
            self.stopped = "interrupted"
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            if listener is not None:
                self._stop_listening(listener)
            os.close(wake_read)
            os.close(wake_write)
        return self.stopped

    def _listen(self) -> socket.socket:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.path.unlink(missing_ok=True)  # a daemon that died left it; one that runs was asked before serve
        listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        listener.listen(16)
        self.inode = self.path.stat().st_ino
        return listener

    def _stop_listening(self, listener: socket.socket) -> None:
        """Close the socket, and remove its file unless another daemon has taken the path."""
        try:
            if self.path.stat().st_ino == self.inode:
                self.path.unlink()
        except OSError:
            pass
        listener.close()

    def _idle(self) -> bool:
        return not self.children and time.monotonic() - self.last_active > self.idle_s

    def _accept(self, listener: socket.socket) -> bool:
        """Take one request; False when the daemon should stop."""
        conn, _ = listener.accept()
        self.last_active = time.monotonic()
        conn.settimeout(REQUEST_TIMEOUT_S)
        fds: list[int] = []
        try:
            request, fds = _read_request(conn)
            if request.get("status"):
                _send(conn, {"pid": os.getpid(), "started": self.started, "served": self.served,
                             "running": len(self.children), "socket": str(self.path)})
                return True
            if request.get("stop"):
                _send(conn, {"stopped": os.getpid()})
                self.stopped = "asked to stop"
                return False
            reason = self._decline(request)
            if reason:
                _send(conn, {"declined": reason})
                if reason == STALE:
                    self.stopped = STALE
                return reason != STALE
            pid = os.fork()
            if pid == 0:
                _run_child(request, fds, [*self.closed_in_children, *(c.fileno() for c in self.children.values())],
                           conn, self.own_state["nice"])
            self.served += 1
            _send(conn, {"pid": pid})
            self.children[pid] = conn
            conn = None
            return True
        except (OSError, ValueError, KeyError) as error:  # a client that died or spoke nonsense
            logging.getLogger("noizenet").warning("daemon: a request failed: %s", error)
            return True
        finally:
            for fd in fds:
                os.close(fd)
            if conn is not None:
                conn.close()

    def _decline(self, request: dict[str, Any]) -> str:
        """Why this daemon may not run the request as the client would, or ""."""
        if code_fingerprint(self.sources) != self.fingerprint:
            return STALE
        own = self.own_state
        if request["path"] != own["path"]:
            return "its module search path (sys.path) differs from the daemon's: use the `noizenet` script"
        differ = sorted(k for k in set(request["env"]) | set(own["env"])
                        if k.startswith(IMPORT_TIME_PREFIXES) and request["env"].get(k) != own["env"].get(k))
        if differ:
            return f"{', '.join(differ)} {'differs' if len(differ) == 1 else 'differ'} from the daemon's"
        if request["cgroup"] != own["cgroup"]:
            return "cgroup limits (memory, CPU) unlike the daemon's"
        if request["nice"] < own["nice"]:
            return "a lower niceness than the daemon's"
        for limit, (soft, hard) in request["limits"].items():
            own_hard = own["limits"][limit][1]
            if own_hard != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > own_hard):
                return "higher resource limits than the daemon's"
        return ""

    def _reap(self) -> None:
        while self.children:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                try:
                    _send(conn, {"exit": os.waitstatus_to_exitcode(wait_status)})
                except OSError:
                    pass  # the client is gone
                conn.close()
            self.last_active = time.monotonic()


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
    while len(header) < HEADER.size:
        more = conn.recv(HEADER.size - len(header))
        if not more:
            raise ValueError("the client hung up")
        header += more
    (size,) = HEADER.unpack(header)
    body = b""
    while len(body) < size:
        more = conn.recv(min(1 << 16, size - len(body)))
        if not more:
            raise ValueError("the client hung up")
        body += more
    return json.loads(body), fds


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _run_child(request: dict[str, Any], fds: list[int], inherited: list[int], conn: socket.socket, nice: int) -> None:
    """In the forked child: become the client's process, run the command, exit.
    Never returns (the daemon's own frames must not run on here)."""
    code = 1
    try:
        os.setsid()
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        conn.close()
        for fd in inherited:
            os.close(fd)
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        _take_state(request, nice)
        sys.argv = ["noizenet", *request["run"]]
        importlib.import_module("noizenet.cli").main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, (int, type(None))):
            print(done.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # noqa: BLE001 - a bug: its traceback, as a fresh process would print it
        sys.excepthook(*sys.exc_info())
    finally:
        try:
            atexit._run_exitfuncs()  # what a normal exit runs (logging, pools, temp files)
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
        finally:
            os._exit(code)


def _take_state(request: dict[str, Any], nice: int) -> None:
    """The client's folder, environment, umask, limits, CPUs, niceness and streams;
    fresh random seeds and logging, as a new process has."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.umask(request["umask"])
    for limit, (soft, hard) in request["limits"].items():
        resource.setrlimit(int(limit), (soft, hard))
    if request["cpus"] is not None:  # where the client could read its CPU set, this one can set it
        os.sched_setaffinity(0, request["cpus"])
    if request["nice"] > nice:
        os.nice(request["nice"] - nice)
    encoding = request["encoding"] or "utf-8"
    sys.stdin = sys.__stdin__ = open(0, encoding=encoding, closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", buffering=1 if os.isatty(1) else -1, encoding=encoding,
                                       closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, encoding=encoding, errors="backslashreplace",
                                       closefd=False)
    for handler in logging.root.handlers[:]:  # bound to the daemon's streams
        logging.root.removeHandler(handler)
    importlib.import_module("numpy").random.seed()
    importlib.import_module("torch").seed()


def serve(idle_minutes: float) -> None:
    """``noizenet daemon serve``: preload, then serve in this process until idle."""
    path = socket_path()
    if status():
        raise DaemonError(f"a daemon already listens on {path} (noizenet daemon stop)")
    missing = preload()
    gc.collect()
    gc.freeze()  # the preloaded objects stay shared with every child, not copied on write
    print(f"noizenet daemon {os.getpid()}: listening on {path}" + (f" (not loaded: {', '.join(missing)})" if missing else ""),
          file=sys.stderr, flush=True)
    stopped = Daemon(path, idle_minutes).serve()
    print(f"noizenet daemon {os.getpid()}: stopped ({stopped})", file=sys.stderr, flush=True)
