"""Process helpers for broker JVMs: liveness that sees through zombies and pid reuse, and stopping."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

_PROC = Path("/proc")


def pid_alive(pid: int, *, marker: str | None = None) -> bool:
    """Tell whether ``pid`` runs and, where /proc can tell, its command line contains ``marker``.

    The marker (a node's unique properties path) guards against a recycled pid: a recorded pid
    that now belongs to someone else's process must never be reported alive, let alone signalled.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Exists but is not ours to signal, so it is not one of our JVMs.
        return False
    proc = _PROC / str(pid)
    if not proc.is_dir():
        return True  # no /proc (macOS): the signal probe is all we have
    try:
        # A zombie keeps its pid until its parent reaps it; some container inits never do.
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return False
    if state in {"Z", "X"}:
        return False
    return marker is None or marker in cmdline


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Tell whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct loopback ports that were free a moment ago."""
    sockets: list[socket.socket] = []
    try:
        # Hold every socket open until all are bound so the kernel cannot hand out one port twice.
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def terminate(
    pid: int,
    *,
    marker: str | None,
    popen: subprocess.Popen[bytes] | None = None,
    grace: float = 30.0,
) -> None:
    """Stop one process: SIGTERM (a broker's controlled shutdown), then SIGKILL after ``grace`` s."""
    terminate_all([(pid, marker, popen)], grace=grace)


def terminate_all(
    targets: list[tuple[int, str | None, subprocess.Popen[bytes] | None]], *, grace: float = 30.0
) -> None:
    """Stop several processes together: SIGTERM all, wait up to ``grace`` s, SIGKILL the rest."""
    live = [(pid, marker, popen) for pid, marker, popen in targets if _running(pid, marker, popen)]
    for pid, _, _ in live:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while live and time.monotonic() < deadline:
        live = [(pid, marker, popen) for pid, marker, popen in live if _running(pid, marker, popen)]
        if live:
            time.sleep(0.1)
    for pid, _, _ in live:
        _signal(pid, signal.SIGKILL)
    for pid, marker, popen in live:
        _wait_gone(pid, marker, popen, timeout=10.0)


def kill(pid: int, *, marker: str | None, popen: subprocess.Popen[bytes] | None = None) -> None:
    """SIGKILL one process (a crash, as far as the broker is concerned) and wait until it is gone."""
    if _running(pid, marker, popen):
        _signal(pid, signal.SIGKILL)
        _wait_gone(pid, marker, popen, timeout=10.0)


def _running(pid: int, marker: str | None, popen: subprocess.Popen[bytes] | None) -> bool:
    if popen is not None:
        # Our own child: poll() also reaps it, so it never lingers as a zombie.
        return popen.poll() is None
    return pid_alive(pid, marker=marker)


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _wait_gone(pid: int, marker: str | None, popen: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _running(pid, marker, popen) and time.monotonic() < deadline:
        time.sleep(0.05)
