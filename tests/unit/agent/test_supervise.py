"""A supervised background loop: a crash is logged by type, is a health problem, and the loop restarts.

1. a loop that raises is restarted after a growing pause; its problem clears once it has run long enough;
2. a loop that keeps failing stays a problem, and the pause doubles up to the cap;
3. a loop that returns is restarted too; cancelling is how it stops, and that is no failure;
4. the problem codes are ones the hub's heartbeat accepts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from pydantic import TypeAdapter
from structlog.testing import capture_logs

from connectors.agent.supervise import TASK_FAILED, Supervised
from hub.fleet.schemas import ProblemCode
from onedoor.errors import Unavailable


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_crash_is_logged_by_type_is_a_problem_and_the_loop_restarts() -> None:
    runs: list[int] = []
    forever = asyncio.Event()

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise Unavailable("hub.unreachable", "a message that may quote Synthia Example")
        await forever.wait()

    supervised = Supervised("policy-refresh", loop, stable_s=0.2, restart_min_s=0.05)
    assert supervised.problems == []
    with capture_logs() as logs:
        task = supervised.start()
        await _until(lambda: len(runs) == 1)
        await asyncio.sleep(0)
        assert supervised.problems == ["connector.task_failed.policy-refresh"], "red while it waits to restart"
        await _until(lambda: len(runs) == 2)
        assert supervised.problems == ["connector.task_failed.policy-refresh"], "still red: not stable yet"
        await _until(lambda: supervised.problems == [], timeout_s=2)
    assert supervised.restarts == 1
    assert not task.done(), "the loop runs on"
    [line] = [e for e in logs if e["event"] == TASK_FAILED]
    assert (line["task"], line["error"], line["code"], line["restart_in_s"]) == (
        "policy-refresh",
        "Unavailable",
        "hub.unreachable",
        0.05,
    )
    assert "Synthia" not in repr(logs), "never the exception's message"
    await _stop(task)


async def test_a_loop_that_keeps_failing_stays_a_problem_with_a_doubling_pause() -> None:
    async def loop() -> None:
        raise RuntimeError("boom")

    supervised = Supervised("status-refresh", loop, stable_s=10, restart_min_s=0.01, restart_max_s=0.04)
    with capture_logs() as logs:
        task = supervised.start()
        await _until(lambda: supervised.restarts >= 4)
        assert supervised.problems == ["connector.task_failed.status-refresh"]
    pauses = [e["restart_in_s"] for e in logs if e["event"] == TASK_FAILED][:5]
    assert pauses == [0.01, 0.02, 0.04, 0.04, 0.04]
    await _stop(task)


async def test_a_loop_that_returns_is_restarted_and_cancelling_is_no_failure() -> None:
    runs: list[int] = []
    forever = asyncio.Event()

    async def loop() -> None:
        runs.append(1)
        if len(runs) == 1:
            return
        await forever.wait()

    supervised = Supervised("policy-refresh", loop, stable_s=10, restart_min_s=0.01)
    with capture_logs() as logs:
        task = supervised.start("connector-policy-test")
        await _until(lambda: len(runs) == 2)
        assert task.get_name() == "connector-policy-test"
        failed = len([e for e in logs if e["event"] == TASK_FAILED])
        await _stop(task)
    assert failed == 1
    assert [e["error"] for e in logs if e["event"] == TASK_FAILED] == ["returned"], "cancelling logged nothing"


def test_the_problem_codes_fit_the_hubs_heartbeat() -> None:
    # The heartbeat reports the process's problems to the hub, which accepts dotted codes only.
    async def idle() -> None:
        return

    for name in ("policy-refresh", "status-refresh"):
        problem = Supervised(name, idle).problem
        assert TypeAdapter(ProblemCode).validate_python(problem) == problem
    assert TypeAdapter(ProblemCode).validate_python("status.refresh_failed") == "status.refresh_failed"
