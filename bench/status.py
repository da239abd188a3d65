"""How long a police force waits for a cross-area status check, end to end.

A real hub (SQLite database, agreements approved through the agreements service, the router
from ``hub.router.runtime.build_router``), the bench's broker, and real connectors: the
requesting force runs the ``StatusChecker`` on its own ``Connector`` in a process of its own;
the responding agencies run ``StatusResponder`` over their own ``StatusIndex``, several
agencies to a process (``bench.status_workers``), each agency with its own keys, policy,
connector and disclosure log, the process reading all its agencies' inboxes with one consumer
and publishing through one producer (40 or 200 consumers of their own would cost the 2-core
machine more than the hub). The router runs in a third kind of process.

The force sends checks open loop (each at its scheduled time, whatever came back) and each
check's latency runs from that time to the ``StatusAnswer``: every agency answered, or the
soft deadline (2 s). One check in four is about a known victim held by one agency; the others
are about a young person no agency holds. Every answer is checked for the right result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.status_world import RECORDS_PER_AGENCY, ROUTER_OVERRIDES, StatusWorld

RESPONDER_PROCESSES = 4
"""Processes the responding agencies are spread over (40 agencies: 10 each; 200: 50 each)."""
MAX_STEPS = (10.0, 20.0, 40.0, 80.0)
"""Rates tried after the 5/s run, in order, until the p99 goes above ``MAX_P99_MS``."""
LOW_STEPS = (2.0, 1.0)
"""Rates tried, in order, when 5/s is already over ``MAX_P99_MS``."""
MAX_P99_MS = 500.0
SOFT_DEADLINE_MS = 2000.0


class _Process:
    """A worker process whose stdout gives JSON lines and whose stderr goes to a log file."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log

    @classmethod
    async def start(cls, log: Path, *args: str) -> _Process:
        with log.open("ab") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.status_workers", *args, stdout=asyncio.subprocess.PIPE, stderr=err
            )
        return cls(proc, log)

    async def line(self, wait_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), wait_s)
        except TimeoutError:
            raw = b""
        if not raw:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"status worker gave no result within {wait_s:.0f} s:\n{tail}")
        return dict(json.loads(raw))

    async def stop(self) -> dict[str, Any]:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await self.line(60)
        except RuntimeError:
            return {}
        finally:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def _running(world: StatusWorld, bootstrap: str) -> AsyncIterator[list[_Process]]:
    """The router and the responder processes, ready; stopped (and their counters read) on exit."""
    started: list[_Process] = []
    logs = world.root / "logs"
    logs.mkdir(exist_ok=True)
    try:
        router = await _Process.start(logs / "router.log", "router", str(world.root), bootstrap)
        started.append(router)
        await router.line(120)
        step = -(-world.agencies // RESPONDER_PROCESSES)
        for first in range(0, world.agencies, step):
            last = min(world.agencies, first + step)
            started.append(
                await _Process.start(
                    logs / f"responders-{first}.log", "responders", str(world.root), bootstrap, str(first), str(last)
                )
            )
        for proc in started[1:]:
            await proc.line(300)
        yield started
    finally:
        for proc in reversed(started):
            counters = await proc.stop()
            print(f"  worker counters: {counters}", flush=True)


async def _check(world: StatusWorld, bootstrap: str, rate: float, seconds: float) -> dict[str, Any]:
    """One open-loop run of the requesting force."""
    proc = await _Process.start(
        world.root / "logs" / "requester.log", "requester", str(world.root), bootstrap, str(rate), str(seconds)
    )
    try:
        result = await proc.line(seconds + 180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.proc.kill()
        await proc.proc.wait()
    print(
        f"  {world.agencies} agencies at {rate:g}/s: p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
        f"max {result['max_ms']:.0f} ms; {result['incomplete']} of {result['count']} incomplete, "
        f"{result['wrong']} wrong",
        flush=True,
    )
    if result["wrong"]:
        raise RuntimeError(f"{result['wrong']} status checks gave the wrong answer: the figures would mean nothing")
    return result


async def _world(bootstrap: str, root: Path, agencies: int) -> StatusWorld:
    started = time.perf_counter()
    world = await asyncio.to_thread(StatusWorld.create, root, f"st{agencies}x{int(time.time())}", agencies)
    await world.make_topics(bootstrap)
    print(f"  hub with {agencies} responding agencies set up in {time.perf_counter() - started:.1f} s", flush=True)
    return world


async def measure(bootstrap: str, seconds: float = 20.0, step_seconds: float = 10.0) -> dict[str, dict[str, Any]]:
    """status_check.p50_ms/p99_ms (40 agencies, 5/s), max_per_s (p99 <= 500 ms), p99_ms_200 (200 agencies)."""
    work = Path(tempfile.mkdtemp(prefix="onedoor-bench-status-"))
    try:
        world = await _world(bootstrap, work / "a40", 40)
        async with _running(world, bootstrap):
            base = await _check(world, bootstrap, 5.0, seconds)
            steps = [base]
            # Up while the p99 holds; if even 5/s does not, down to find what does.
            for rate in MAX_STEPS if base["p99_ms"] <= MAX_P99_MS else LOW_STEPS:
                steps.append(await _check(world, bootstrap, rate, step_seconds))
                if (steps[-1]["p99_ms"] <= MAX_P99_MS) != (base["p99_ms"] <= MAX_P99_MS):
                    break
        world200 = await _world(bootstrap, work / "a200", 200)
        async with _running(world200, bootstrap):
            wide = await _check(world200, bootstrap, 5.0, step_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _figures(seconds, step_seconds, base, steps, wide)


def _figures(
    seconds: float, step_seconds: float, base: dict[str, Any], steps: list[dict[str, Any]], wide: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    setup = (
        f"real router (build_router, SQLite hub DB, audit on; status rate limit raised to "
        f"{ROUTER_OVERRIDES['status_rate_per_second']:g}/s burst {ROUTER_OVERRIDES['status_rate_burst']} "
        f"from 5/s burst 20), 1 broker, 1 partition per topic; requester (StatusChecker + Connector) and "
        f"router in a process each, responders (StatusResponder, own keys/connector/{RECORDS_PER_AGENCY}-record "
        f"index/disclosure log each) {RESPONDER_PROCESSES} processes with one consumer and producer each; "
        "one agreement per pair (check: send identity+operational; reply: query operational+safeguarding+contact); "
        "1 check in 4 finds a known victim at one agency; soft deadline 2 s; latency from the scheduled send "
        "to the StatusAnswer (open loop); shared 2-core VM"
    )
    passed = [s["rate"] for s in steps if s["p99_ms"] <= MAX_P99_MS]
    tried = ", ".join(f"{s['rate']:g}/s p99 {s['p99_ms']:.0f} ms" for s in steps)
    highest = max(s["rate"] for s in steps)
    note = " (the highest rate tried)" if passed and max(passed) == highest else ""

    def metric(value: float, unit: str, conditions: str) -> dict[str, Any]:
        return {"value": round(value, 1), "unit": unit, "conditions": conditions}

    base_cond = (
        f"40 responding agencies, 5 checks/s for {seconds:g} s ({base['count']} checks, "
        f"{base['incomplete']} with an agency not answering by the soft deadline); " + setup
    )
    return {
        "status_check.p50_ms": metric(base["p50_ms"], "ms", "p50; " + base_cond),
        "status_check.p99_ms": metric(base["p99_ms"], "ms", "p99; " + base_cond),
        "status_check.max_per_s": metric(
            max(passed, default=0.0),
            "checks/s",
            f"highest open-loop rate with p99 <= {MAX_P99_MS:g} ms{note}; 40 agencies; steps: {tried} "
            f"({step_seconds:g} s each after the first); " + setup,
        ),
        "status_check.p99_ms_200": metric(
            wide["p99_ms"],
            "ms",
            f"p99; 200 responding agencies, 5 checks/s for {step_seconds:g} s ({wide['count']} checks, "
            f"{wide['incomplete']} incomplete; p50 {wide['p50_ms']:.0f} ms); " + setup,
        ),
    }
