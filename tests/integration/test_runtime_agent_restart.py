"""An instance outlives a ``kill -9`` of the agent that started it, and the next agent takes
it back without starting a second copy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.agent.runtime import InstanceFacts, LocalProcessDriver, procfs

SCALE = float(os.environ.get("CORRAL_TEST_SCALE", "1"))
MARKER = "agent-restart-survivor-3c9b"

AGENT = f"""
import asyncio, json, sys
from corral.agent.runtime import InstanceSpec, LocalProcessDriver

async def main():
    async with LocalProcessDriver(sys.argv[1]) as driver:
        facts = await driver.start(InstanceSpec(
            uuid="survivor",
            command=[sys.executable, "-c", "import time; marker = {MARKER!r}; time.sleep(60)"],
        ))
        print(json.dumps(facts.to_dict()), flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "agent-data"
    try:
        yield path
    finally:
        state = path / "instances" / "survivor" / "state.json"
        if state.exists():
            record = json.loads(state.read_text())
            pid = record.get("pid")
            if pid and procfs.start_time_of(pid) == record.get("pidStartTime"):
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)


def _live_pids_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = procfs.read_stat(int(entry.name))
                if (
                    marker.encode() in (entry / "cmdline").read_bytes()
                    and stat
                    and not stat.defunct
                ):
                    found.append(int(entry.name))
    return found


async def test_instance_survives_kill_9_of_the_agent_and_is_recovered(data_dir: Path) -> None:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT, str(data_dir), stdout=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert agent.stdout is not None
        line = await asyncio.wait_for(agent.stdout.readline(), timeout=10 * SCALE)
        started = InstanceFacts(**json.loads(line))
    finally:
        agent.kill()  # SIGKILL: no clean-up code of the agent runs
        await agent.wait()

    assert started.pid is not None
    assert _live_pids_with(MARKER) == [started.pid]
    stat = procfs.read_stat(started.pid)
    assert stat is not None and stat.ppid != agent.pid  # orphaned, still running

    notices: list[InstanceFacts] = []
    async with LocalProcessDriver(data_dir, poll_interval=0.05) as driver:
        driver.add_exit_listener(notices.append)
        [recovered] = await driver.recover()
        assert recovered.state == "running" and recovered.pid == started.pid
        assert _live_pids_with(MARKER) == [started.pid]

        os.kill(started.pid, signal.SIGKILL)  # no longer our child: found by polling /proc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5 * SCALE
        while not notices and loop.time() < deadline:
            await asyncio.sleep(0.02)
    assert [n.state for n in notices] == ["stopped"]
    assert notices[0].exit_code is None  # the exit code went to the process's new parent
