"""LocalProcessDriver: start, stop, remove and volumes, with real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from corral.agent.runtime import (
    InstanceStartError,
    InvalidNameError,
    LocalProcessDriver,
    VolumeInUseError,
    procfs,
)
from corral.agent.runtime.statefile import read_record
from tests.unit.test_runtime_support import (
    Harness,
    alive,
    processes_with,
    py,
    scaled,
    sleeper,
    spec,
    wait_for,
    wait_state,
)


async def test_start_runs_a_detached_process_in_its_own_session(
    driver: LocalProcessDriver,
) -> None:
    facts = await driver.start(spec("i1", sleeper("i1-marker")))

    assert facts.state == "running"
    assert facts.pid is not None and facts.pid > 0
    os.kill(facts.pid, 0)
    assert alive(facts.pid)
    assert os.getsid(facts.pid) == facts.pid  # new session, so it outlives the agent
    assert os.getpgid(facts.pid) == facts.pid
    assert facts.started_at is not None
    record = read_record(driver.instances_dir / "i1")
    assert record.pid == facts.pid
    assert record.pid_start_time == procfs.start_time_of(facts.pid)
    assert record.state == "running"


async def test_output_and_errors_are_appended_to_the_log(driver: LocalProcessDriver) -> None:
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr)"
    facts = await driver.start(spec("log1", py(code)))
    assert facts.log_path == str(driver.instances_dir / "log1" / "output.log")
    log = Path(facts.log_path)
    await wait_for(lambda: "to stderr" in log.read_text(), what="output in log")
    await wait_state(driver, "log1", "stopped")

    await driver.start(spec("log1", py("print('second run')")))
    await wait_for(lambda: "second run" in log.read_text(), what="second output")
    text = log.read_text()
    assert "to stdout" in text and text.index("to stdout") < text.index("second run")


async def test_environment_is_minimal_plus_spec_and_cwd_is_applied(
    tmp_path: Path,
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_ONLY_SECRET", "must-not-leak")
    workdir = tmp_path / "work"
    workdir.mkdir()
    code = "import json, os; json.dump({'env': dict(os.environ), 'cwd': os.getcwd()}, open('out.json', 'w'))"
    async with harness.new_driver() as d:
        volume_dir = tmp_path / "hostdir"
        volume_dir.mkdir()
        await d.start(
            spec(
                "env1",
                py(code),
                environment={"FOO": "bar", "LANG": "C"},
                working_dir=str(workdir),
                volumes=["data:/data", str(volume_dir)],
            )
        )
        out = workdir / "out.json"
        await wait_for(out.exists, what="out.json")
        await wait_state(d, "env1", "stopped")
        result = json.loads(out.read_text())
        env = result["env"]
        assert result["cwd"] == str(workdir)
        assert env["FOO"] == "bar"
        assert env["LANG"] == "C"
        assert "PATH" in env and "HOME" in env
        assert "AGENT_ONLY_SECRET" not in env
        assert env["CORRAL_VOLUMES"].split(os.pathsep) == [
            str(d.volume_path("data")),
            str(volume_dir),
        ]
        assert d.volume_path("data").is_dir()


async def test_default_working_dir_is_the_instance_directory(driver: LocalProcessDriver) -> None:
    await driver.start(spec("cwd1", py("open('here.txt', 'w').write('x')")))
    await wait_for((driver.instances_dir / "cwd1" / "here.txt").exists, what="file in cwd")


@pytest.mark.parametrize(
    ("command", "working_dir", "message"),
    [
        (["no-such-command-corral"], None, "command not found: 'no-such-command-corral'"),
        ([], None, "command is empty"),
        ([""], None, "command is empty"),
        (["./missing.sh"], None, "command not found: './missing.sh'"),
        (["true"], "/no/such/dir", "working directory does not exist: /no/such/dir"),
        (["true"], "relative/dir", "working directory must be an absolute path: relative/dir"),
    ],
)
async def test_start_errors_say_what_to_fix(
    driver: LocalProcessDriver, command: list[str], working_dir: str | None, message: str
) -> None:
    with pytest.raises(InstanceStartError) as caught:
        await driver.start(spec("bad1", command, working_dir=working_dir))
    assert message in str(caught.value)
    assert isinstance(caught.value, RuntimeError)
    assert caught.value.uuid == "bad1"
    assert await driver.inspect("bad1") is None
    assert not (driver.instances_dir / "bad1").exists()


async def test_start_error_for_non_executable_file(
    driver: LocalProcessDriver, tmp_path: Path
) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    with pytest.raises(InstanceStartError, match="command is not executable"):
        await driver.start(spec("bad2", [str(script)]))


async def test_start_error_for_missing_volume_path(driver: LocalProcessDriver) -> None:
    with pytest.raises(InstanceStartError, match="volume path does not exist: /no/such/vol"):
        await driver.start(spec("bad3", sleeper("bad3"), volumes=["/no/such/vol:/data"]))


@pytest.mark.parametrize("uuid", ["../escape", "", "a/b", ".hidden", "x" * 300])
async def test_unsafe_uuids_are_refused(driver: LocalProcessDriver, uuid: str) -> None:
    with pytest.raises(InvalidNameError):
        await driver.start(spec(uuid, sleeper("unsafe")))
    with pytest.raises(InvalidNameError):
        await driver.remove(uuid)


async def test_start_is_idempotent(driver: LocalProcessDriver) -> None:
    marker = "idem-start-7f3a"
    first = await driver.start(spec("i2", sleeper(marker)))
    again = await driver.start(spec("i2", sleeper(marker)))
    concurrent = await asyncio.gather(
        *(driver.start(spec("i2", sleeper(marker))) for _ in range(5))
    )

    assert again.pid == first.pid
    assert {f.pid for f in concurrent} == {first.pid}
    assert processes_with(marker) == [first.pid]


async def test_concurrent_first_starts_spawn_one_process(driver: LocalProcessDriver) -> None:
    marker = "idem-concurrent-91c2"
    results = await asyncio.gather(*(driver.start(spec("i3", sleeper(marker))) for _ in range(4)))
    assert len({f.pid for f in results}) == 1
    assert len(processes_with(marker)) == 1


async def test_stop_terminates_and_is_idempotent(driver: LocalProcessDriver) -> None:
    started = await driver.start(spec("s1", sleeper("s1-marker")))
    assert started.pid is not None

    stopped = await driver.stop("s1", timeout=scaled(5))
    assert stopped.state == "stopped"
    assert stopped.exit_code == 128 + signal.SIGTERM
    assert stopped.pid == started.pid
    assert stopped.finished_at is not None
    assert not alive(started.pid)
    assert read_record(driver.instances_dir / "s1").state == "stopped"

    again = await driver.stop("s1", timeout=scaled(5))
    assert again == stopped


async def test_stop_of_unknown_instance_reports_removed(driver: LocalProcessDriver) -> None:
    facts = await driver.stop("never-seen", timeout=1)
    assert facts.state == "removed" and facts.pid is None


async def test_stop_kills_after_timeout_when_sigterm_is_ignored(
    driver: LocalProcessDriver,
) -> None:
    code = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    facts = await driver.start(spec("s2", py(code)))
    log = Path(facts.log_path or "")
    await wait_for(lambda: "ready" in log.read_text(), what="handler installed")

    stopped = await driver.stop("s2", timeout=0.2)
    assert stopped.exit_code == 128 + signal.SIGKILL
    assert facts.pid is not None and not alive(facts.pid)


async def test_stop_takes_the_whole_process_group(driver: LocalProcessDriver) -> None:
    code = (
        "import subprocess, sys, time; "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "open('child.pid', 'w').write(str(c.pid)); time.sleep(60)"
    )
    await driver.start(spec("grp1", py(code)))
    child_file = driver.instances_dir / "grp1" / "child.pid"
    await wait_for(lambda: child_file.exists() and child_file.read_text() != "", what="child")
    child_pid = int(child_file.read_text())
    assert alive(child_pid)

    await driver.stop("grp1", timeout=scaled(5))
    await wait_for(lambda: not alive(child_pid), what="child gone")


async def test_start_after_stop_runs_a_new_process(driver: LocalProcessDriver) -> None:
    first = await driver.start(spec("r1", sleeper("r1")))
    await driver.stop("r1", timeout=scaled(5))
    second = await driver.start(spec("r1", sleeper("r1")))
    assert second.state == "running"
    assert second.pid != first.pid
    assert second.exit_code is None and second.finished_at is None


async def test_remove_stops_deletes_and_is_idempotent(driver: LocalProcessDriver) -> None:
    facts = await driver.start(spec("rm1", sleeper("rm1")))
    assert facts.pid is not None

    await driver.remove("rm1")
    assert not alive(facts.pid)
    assert not (driver.instances_dir / "rm1").exists()
    assert await driver.inspect("rm1") is None
    assert all(f.uuid != "rm1" for f in await driver.list())

    await driver.remove("rm1")
    await driver.remove("never-existed")


async def test_inspect_and_list(driver: LocalProcessDriver) -> None:
    a = await driver.start(spec("la", sleeper("la")))
    await driver.start(spec("lb", sleeper("lb")))
    await driver.stop("lb", timeout=scaled(5))

    assert await driver.inspect("la") == a
    states = {f.uuid: f.state for f in await driver.list()}
    assert states == {"la": "running", "lb": "stopped"}


async def test_volumes_are_directories_created_and_removed_idempotently(
    driver: LocalProcessDriver,
) -> None:
    path = await driver.create_volume("vol1")
    assert path == str(driver.data_dir / "volumes" / "vol1")
    (Path(path) / "file").write_text("kept")
    assert await driver.create_volume("vol1") == path
    assert (Path(path) / "file").read_text() == "kept"

    await driver.remove_volume("vol1")
    assert not Path(path).exists()
    await driver.remove_volume("vol1")

    with pytest.raises(InvalidNameError):
        await driver.create_volume("../etc")


async def test_volume_in_use_by_a_running_instance_is_not_removed(
    driver: LocalProcessDriver,
) -> None:
    await driver.start(spec("vu1", sleeper("vu1"), volumes=["shared:/data"]))
    with pytest.raises(VolumeInUseError, match="vu1"):
        await driver.remove_volume("shared")
    await driver.stop("vu1", timeout=scaled(5))
    await driver.remove_volume("shared")
    assert not driver.volume_path("shared").exists()
