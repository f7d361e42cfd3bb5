"""LocalProcessDriver: exit watching, recovery by a new driver, pid-reuse safety."""

from __future__ import annotations

import asyncio
import json
import os
import signal

from corral.agent.runtime import InstanceFacts, LocalProcessDriver, procfs
from corral.agent.runtime.statefile import read_record
from tests.unit.test_runtime_support import (
    ExitRecorder,
    Harness,
    alive,
    processes_with,
    py,
    sleeper,
    spec,
    wait_for,
)


async def test_process_killed_from_outside_is_noticed_as_stopped(
    driver: LocalProcessDriver,
) -> None:
    recorder = ExitRecorder()
    driver.add_exit_listener(recorder)
    facts = await driver.start(spec("x1", sleeper("x1")))
    assert facts.pid is not None

    os.kill(facts.pid, signal.SIGKILL)
    await wait_for(lambda: recorder.for_uuid("x1"), what="exit notice")

    [notice] = recorder.for_uuid("x1")
    assert notice.state == "stopped"
    assert notice.pid == facts.pid
    assert notice.exit_code == 128 + signal.SIGKILL
    assert read_record(driver.instances_dir / "x1").state == "stopped"
    assert procfs.read_stat(facts.pid) is None  # reaped: no zombie left behind


async def test_exit_code_of_a_process_that_ends_by_itself(driver: LocalProcessDriver) -> None:
    notices: list[InstanceFacts] = []

    async def listener(facts: InstanceFacts) -> None:  # async listeners work too
        notices.append(facts)

    driver.add_exit_listener(listener)
    await driver.start(spec("x2", py("import sys; sys.exit(3)")))
    await wait_for(lambda: notices, what="exit notice")
    assert notices[0].exit_code == 3
    assert (await driver.inspect("x2")) == notices[0]


async def test_children_left_behind_by_an_exited_instance_are_killed(
    driver: LocalProcessDriver,
) -> None:
    code = (
        "import subprocess, sys; "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "open('child.pid', 'w').write(str(c.pid))"
    )
    recorder = ExitRecorder()
    driver.add_exit_listener(recorder)
    await driver.start(spec("orphans", py(code)))
    await wait_for(lambda: recorder.notices, what="exit notice")
    child_pid = int((driver.instances_dir / "orphans" / "child.pid").read_text())
    await wait_for(lambda: not alive(child_pid), what="leftover child killed")


async def test_requested_stop_sends_no_exit_notice(driver: LocalProcessDriver) -> None:
    recorder = ExitRecorder()
    driver.add_exit_listener(recorder)
    await driver.start(spec("x3", sleeper("x3")))
    await driver.stop("x3", timeout=5)
    await driver.check_exits()
    assert recorder.notices == []


async def test_failing_listener_does_not_stop_the_others(driver: LocalProcessDriver) -> None:
    def broken(facts: InstanceFacts) -> None:
        raise ValueError("listener bug")

    recorder = ExitRecorder()
    driver.add_exit_listener(broken)
    driver.add_exit_listener(recorder)
    await driver.start(spec("x4", py("pass")))
    await wait_for(lambda: recorder.notices, what="exit notice")


async def test_listener_may_restart_the_instance(driver: LocalProcessDriver) -> None:
    restarted: list[InstanceFacts] = []

    async def restart(facts: InstanceFacts) -> None:
        if not restarted:
            restarted.append(await driver.start(spec(facts.uuid, sleeper("x5"))))

    driver.add_exit_listener(restart)
    await driver.start(spec("x5", py("pass")))
    await wait_for(lambda: restarted, what="restart from listener")
    assert restarted[0].state == "running"


async def test_recover_adopts_running_instances_without_starting_them_again(
    harness: Harness,
) -> None:
    marker = "recover-adopt-5d1e"
    async with harness.new_driver() as first:
        original = await first.start(spec("a1", sleeper(marker)))

    async with harness.new_driver() as second:
        recorder = ExitRecorder()
        second.add_exit_listener(recorder)
        [recovered] = await second.recover()
        assert recovered.state == "running"
        assert recovered.pid == original.pid
        assert recovered.started_at == original.started_at
        assert await second.start(spec("a1", sleeper(marker))) == recovered
        assert processes_with(marker) == [original.pid]
        assert recorder.notices == []

        # The adopted process is watched: an outside kill is noticed.
        assert original.pid is not None
        os.kill(original.pid, signal.SIGKILL)
        await wait_for(lambda: recorder.for_uuid("a1"), what="exit notice after recovery")
        assert recorder.notices[0].state == "stopped"


async def test_recover_reports_instances_that_died_while_the_agent_was_down(
    harness: Harness,
) -> None:
    async with harness.new_driver() as first:
        live = await first.start(spec("d-live", sleeper("d-live")))
        dead = await first.start(spec("d-dead", sleeper("d-dead")))
        await first.start(spec("d-done", sleeper("d-done")))
        await first.stop("d-done", timeout=5)
    assert dead.pid is not None
    os.kill(dead.pid, signal.SIGKILL)
    await wait_for(lambda: not alive(dead.pid or 0), what="kill")

    async with harness.new_driver() as second:
        recorder = ExitRecorder()
        second.add_exit_listener(recorder)
        states = {f.uuid: f.state for f in await second.recover()}

    assert states == {"d-dead": "stopped", "d-done": "stopped", "d-live": "running"}
    assert [n.uuid for n in recorder.notices] == ["d-dead"]  # d-done stopped on request
    assert read_record(second.instances_dir / "d-dead").state == "stopped"
    assert live.pid is not None and alive(live.pid)


async def test_recover_never_trusts_a_reused_pid(
    harness: Harness,
) -> None:
    stranger = harness.spawn_stranger()
    real_start = procfs.start_time_of(stranger.pid)
    assert real_start is not None
    directory = harness.data_dir / "instances" / "reused"
    directory.mkdir(parents=True)
    state = {
        "version": 1,
        "spec": {"uuid": "reused", "command": ["sleep", "60"]},
        "state": "running",
        "pid": stranger.pid,  # alive, but started at another time: not ours
        "pidStartTime": real_start - 1,
        "startedAt": 1.0,
    }
    (directory / "state.json").write_text(json.dumps(state))

    async with harness.new_driver() as d:
        recorder = ExitRecorder()
        d.add_exit_listener(recorder)
        [facts] = await d.recover()
        assert facts.state == "stopped" and facts.exit_code is None
        assert [n.uuid for n in recorder.notices] == ["reused"]
        await d.stop("reused", timeout=1)
        await d.remove("reused")

    assert stranger.poll() is None, "the stranger process must never be signalled"


async def test_recover_skips_corrupt_state_files(
    harness: Harness,
) -> None:
    for name, content in [("broken", "{not json"), ("wrong", json.dumps({"spec": {}}))]:
        (harness.data_dir / "instances" / name).mkdir(parents=True)
        (harness.data_dir / "instances" / name / "state.json").write_text(content)
    async with harness.new_driver() as d:
        await d.start(spec("fine", sleeper("fine")))
        assert [f.uuid for f in await d.recover()] == ["fine"]


async def test_operations_without_recover_still_find_recorded_instances(
    harness: Harness,
) -> None:
    marker = "lazy-adopt-0b7c"
    async with harness.new_driver() as first:
        original = await first.start(spec("lazy", sleeper(marker)))
    async with harness.new_driver() as second:
        again = await second.start(spec("lazy", sleeper(marker)))
        assert again.pid == original.pid
        assert processes_with(marker) == [original.pid]
        stopped = await second.stop("lazy", timeout=5)
        assert stopped.state == "stopped"
    assert original.pid is not None and not alive(original.pid)


async def test_watch_loop_stops_with_the_driver(
    harness: Harness,
) -> None:
    d = harness.new_driver()
    await d.open()
    task = d._watch_task
    assert task is not None and not task.done()
    await d.aclose()
    assert task.done()
    await asyncio.sleep(0)


async def test_start_of_an_instance_that_died_unnoticed_restarts_it_without_notice(
    harness: Harness,
) -> None:
    async with harness.new_driver(poll_interval=3600) as d:  # the watcher never runs
        recorder = ExitRecorder()
        d.add_exit_listener(recorder)
        first = await d.start(spec("again", sleeper("again")))
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        await wait_for(lambda: not alive(first.pid or 0), what="kill")

        second = await d.start(spec("again", sleeper("again")))
        assert second.state == "running" and second.pid != first.pid
        assert recorder.notices == []
