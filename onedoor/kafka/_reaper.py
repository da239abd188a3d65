"""Kill broker JVMs whose in-process owner died without stopping them.

Run as ``python -m onedoor.kafka._reaper`` in its own session. The owner writes
``+ <pid> <marker>`` when it starts a JVM and ``- <pid> <marker>`` when it stopped it. When
stdin reaches end of file (the owner exited, cleanly or by SIGKILL) every JVM still
registered is killed. A pipe, unlike PR_SET_PDEATHSIG, notices the owner's death whichever
thread started the JVM, and works on macOS too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from onedoor.kafka._process import pid_alive

READY = b"ready\n"
"""Written once on stdout when the reaper runs, so its owner knows it is protected."""


def main() -> None:
    """Track registrations from stdin; on end of file kill what is still registered."""
    registered: dict[int, str] = {}
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    for line in sys.stdin:
        parts = line.rstrip("\n").split(" ", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        op, pid, marker = parts[0], int(parts[1]), parts[2]
        if op == "+":
            registered[pid] = marker
        elif op == "-":
            registered.pop(pid, None)
    for pid, marker in registered.items():
        if pid_alive(pid, marker=marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
