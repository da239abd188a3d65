"""Formatting a secured cluster's storage puts no password on a command line (threat model E8).

StorageTool takes the SCRAM users' passwords only as arguments. They go in a 0600 Java argument
file (``@file``), so ``ps`` and ``/proc/<pid>/cmdline`` show the file's path; the file is gone
once the format has finished. The test starts its own secured cluster and records the command of
every process the cluster starts.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from onedoor.kafka import local
from onedoor.kafka.local import BrokerSecurity, LocalKafkaCluster


def test_no_scram_password_is_on_any_command_line_and_the_argument_file_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    security = BrokerSecurity()
    passwords = (security.admin_password.get_secret_value(), security.broker_password.get_secret_value())
    commands: list[list[str]] = []
    argfiles: list[tuple[Path, int, str]] = []
    real_popen = subprocess.Popen

    def spying_popen(command: list[str], *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        commands.append(list(command))
        for part in command:
            if part.startswith("@"):
                path = Path(part[1:])
                argfiles.append((path, stat.S_IMODE(os.stat(path).st_mode), path.read_text(encoding="utf-8")))
        return real_popen(command, *args, **kwargs)

    monkeypatch.setattr(local.subprocess, "Popen", spying_popen)
    cluster = LocalKafkaCluster(tmp_path / "kafka", security=security)
    try:
        cluster.start()
        assert cluster.bootstrap_servers  # positive control: the secured cluster formatted and started
    finally:
        cluster.stop()

    formats = [c for c in commands if any(part.startswith("@") for part in c)]
    assert formats, "StorageTool ran with an argument file"
    for command in commands:
        for password in passwords:
            assert not any(password in part for part in command), "a SCRAM password was on a command line"
    for path, mode, text in argfiles:
        assert mode == 0o600
        assert "kafka.tools.StorageTool" in text
        assert all(password in text for password in passwords), "the argument file carried the users"
        assert not path.exists(), "the argument file is removed after the format"
