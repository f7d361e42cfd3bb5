"""Shared helpers for the runtime driver tests (no tests of its own).

Each test module wires :class:`Harness` into two small fixtures (``harness``, ``driver``)
because fixtures cannot be shared without a conftest. Every process a test spawns is found
again at teardown — through the state files under the
test's data directory, plus any pid a test registers — and killed, even when the test failed.
Waits are scaled by one factor, ``CORRAL_TEST_SCALE`` (default 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Self

from corral.agent.runtime import InstanceFacts, InstanceSpec, LocalProcessDriver, procfs
from corral.agent.runtime.statefile import StateFileError, read_record

SCALE = float(os.environ.get("CORRAL_TEST_SCALE", "1"))
POLL = 0.02


def scaled(seconds: float) -> float:
    return seconds * SCALE


async def wait_for(
    condition: Callable[[], object], *, timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll *condition* until it is truthy; fail after *timeout* (scaled) seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(timeout)
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL)


async def wait_state(
    driver: LocalProcessDriver, uuid: str, state: str, *, timeout: float = 5.0
) -> InstanceFacts:
    """Poll ``driver.inspect`` until the instance is in *state*; return its facts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled(timeout)
    while True:
        facts = await driver.inspect(uuid)
        if facts is not None and facts.state == state:
            return facts
        if loop.time() > deadline:
            raise AssertionError(f"{uuid} not {state} in time: {facts}")
        await asyncio.sleep(POLL)


def py(code: str) -> list[str]:
    """A command running a Python snippet with this interpreter."""
    return [sys.executable, "-c", code]


def sleeper(marker: str, seconds: float = 60) -> list[str]:
    """A long sleep whose command line holds *marker*, so it can be counted in /proc."""
    return py(f"import time; marker = {marker!r}; time.sleep({seconds})")


def alive(pid: int) -> bool:
    """Alive and not a zombie."""
    stat = procfs.read_stat(pid)
    if stat is None:
        return False
    return not stat.defunct


def processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains *marker*."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


class ExitRecorder:
    """An exit listener that remembers every notice."""

    def __init__(self) -> None:
        self.notices: list[InstanceFacts] = []

    def __call__(self, facts: InstanceFacts) -> None:
        self.notices.append(facts)

    def for_uuid(self, uuid: str) -> list[InstanceFacts]:
        return [n for n in self.notices if n.uuid == uuid]


class Harness:
    """Owns a test's data directory and drivers, and kills what the test leaves behind."""

    def __init__(self, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "agent-data"
        self.strangers: list[subprocess.Popen[bytes]] = []
        self._drivers: list[LocalProcessDriver] = []

    def new_driver(
        self, *, poll_interval: float = 0.05, stop_poll_interval: float = 0.01
    ) -> LocalProcessDriver:
        """A driver over the shared data dir, not yet opened (use ``async with``)."""
        driver = LocalProcessDriver(
            self.data_dir, poll_interval=poll_interval, stop_poll_interval=stop_poll_interval
        )
        self._drivers.append(driver)
        return driver

    async def driver(self) -> LocalProcessDriver:
        """A new, opened driver."""
        driver = self.new_driver()
        await driver.open()
        return driver

    def spawn_stranger(self) -> subprocess.Popen[bytes]:
        """A process no driver started (it gets killed at teardown)."""
        proc = subprocess.Popen(sleeper("stranger"))
        self.strangers.append(proc)
        return proc

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for driver in self._drivers:
            await driver.aclose()
            # Stopping through the driver lets its Popen objects see the exit (no warnings).
            with contextlib.suppress(Exception):
                for facts in await driver.list():
                    if facts.state == "running":
                        await driver.stop(facts.uuid, timeout=0)
        self.kill_all()  # whatever a broken driver could not stop

    def kill_all(self) -> None:
        instances = self.data_dir / "instances"
        if instances.is_dir():
            for directory in instances.iterdir():
                try:
                    record = read_record(directory)
                except StateFileError:
                    continue
                pid = record.pid
                if pid and procfs.start_time_of(pid) == record.pid_start_time:
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
                    self._reap(pid)
        for proc in self.strangers:
            proc.kill()
            proc.wait()

    @staticmethod
    def _reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def spec(uuid: str, command: list[str], **fields: object) -> InstanceSpec:
    return InstanceSpec(uuid=uuid, name=uuid, command=command, **fields)  # type: ignore[arg-type]
