"""The runtime's small parts: /proc parsing, exit codes, state records, spawn checks."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from corral.agent.runtime import InstanceFacts, InstanceSpec, InstanceStartError, procfs
from corral.agent.runtime.base import InvalidNameError, check_name
from corral.agent.runtime.spawn import (
    build_environment,
    check_working_dir,
    resolve_command,
)
from corral.agent.runtime.statefile import (
    InstanceRecord,
    StateFileError,
    read_record,
    write_record,
)


def _stat_line(comm: str, state: str = "S", ppid: int = 1, start: int = 4242) -> str:
    fields = [state, str(ppid)] + ["0"] * 17 + [str(start)] + ["0"] * 30
    return f"1234 ({comm}) " + " ".join(fields)


@pytest.mark.parametrize("comm", ["sleep", "a b", "x) (y", ")", "(("])
def test_parse_stat_counts_fields_after_the_last_parenthesis(comm: str) -> None:
    stat = procfs.parse_stat(_stat_line(comm, state="Z", ppid=77, start=99))
    assert stat == procfs.ProcStat(state="Z", ppid=77, start_time=99)
    assert stat.defunct


def test_parse_stat_of_this_process_matches_reality() -> None:
    stat = procfs.read_stat(os.getpid())
    assert stat is not None
    assert stat.ppid == os.getppid()
    assert procfs.is_same_process_alive(os.getpid(), stat.start_time)
    assert not procfs.is_same_process_alive(os.getpid(), stat.start_time + 1)
    assert not procfs.is_same_process_alive(os.getpid(), None)


def test_no_such_pid() -> None:
    assert procfs.read_stat(2**22 + 12345) is None
    assert not procfs.is_same_process_alive(0, 1)
    assert not procfs.pid_exists(2**22 + 12345)


def test_exit_codes_use_the_shell_convention() -> None:
    assert procfs.exit_code_from_returncode(0) == 0
    assert procfs.exit_code_from_returncode(3) == 3
    assert procfs.exit_code_from_returncode(-signal.SIGKILL) == 137
    assert procfs.exit_code_from_status(3 << 8) == 3
    assert procfs.exit_code_from_status(signal.SIGTERM) == 143


@pytest.mark.parametrize("name", ["abc", "1i23", "a.b-c_d", "X" * 255])
def test_safe_names(name: str) -> None:
    assert check_name(name, what="uuid") == name


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "a/b", "-x", "a b", "x" * 256, "é"])
def test_unsafe_names(name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid uuid"):
        check_name(name, what="uuid")


def test_spec_round_trips_through_json() -> None:
    spec = InstanceSpec(
        uuid="u1",
        name="web",
        command=["sleep", "1"],
        environment={"A": "1"},
        working_dir="/tmp",
        labels={"io.rancher.x": "y"},
        volumes=["v:/data"],
    )
    assert InstanceSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_record_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    directory = tmp_path / "u1"
    record = InstanceRecord(
        spec=InstanceSpec(uuid="u1", command=["x"]),
        state="running",
        directory=directory,
        pid=10,
        pid_start_time=20,
        started_at=1.5,
    )
    write_record(record)
    record.state = "stopped"
    record.exit_code = 0
    write_record(record)

    assert sorted(p.name for p in directory.iterdir()) == ["state.json"]  # no tmp left over
    back = read_record(directory)
    assert back == record
    assert back.facts() == InstanceFacts(
        uuid="u1",
        state="stopped",
        pid=10,
        exit_code=0,
        started_at=1.5,
        log_path=str(directory / "output.log"),
    )


@pytest.mark.parametrize(
    "content",
    [
        "{broken",
        "[]",
        json.dumps({"spec": {"uuid": "u1"}, "state": "exploded"}),
        json.dumps({"spec": {"uuid": "other"}, "state": "running"}),
        json.dumps({"state": "running"}),
        json.dumps({"spec": {"uuid": "u1"}, "state": "running", "pid": "abc"}),
    ],
)
def test_malformed_state_files_are_refused(tmp_path: Path, content: str) -> None:
    directory = tmp_path / "u1"
    directory.mkdir()
    (directory / "state.json").write_text(content)
    with pytest.raises(StateFileError):
        read_record(directory)


def test_missing_state_file(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="no state file"):
        read_record(tmp_path)


def test_environment_overlay_and_checks() -> None:
    env = build_environment({"PATH": "/x", "B": "2"}, base={"PATH": "/bin", "HOME": "/h"})
    assert env == {"PATH": "/x", "HOME": "/h", "B": "2"}
    with pytest.raises(InstanceStartError, match="invalid environment variable name"):
        build_environment({"A=B": "1"}, base={})
    with pytest.raises(InstanceStartError, match="NUL"):
        build_environment({"A": "x\0y"}, base={})


def test_resolve_command(tmp_path: Path) -> None:
    tool = tmp_path / "bin" / "tool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    search = str(tool.parent)
    assert resolve_command(["tool"], search_path=search, cwd="/") == str(tool)
    assert resolve_command(["bin/tool"], search_path="", cwd=str(tmp_path)) == str(tool)
    with pytest.raises(InstanceStartError, match="command not found: 'foo'"):
        resolve_command(["foo"], search_path=search, cwd="/")
    with pytest.raises(InstanceStartError, match="command is a directory"):
        resolve_command(["./bin"], search_path=search, cwd=str(tmp_path))
    with pytest.raises(InstanceStartError, match="command is empty"):
        resolve_command([], search_path=search, cwd="/")


def test_check_working_dir(tmp_path: Path) -> None:
    assert check_working_dir(str(tmp_path)) == str(tmp_path)
    (tmp_path / "f").write_text("")
    with pytest.raises(InstanceStartError, match="is not a directory"):
        check_working_dir(str(tmp_path / "f"))
    with pytest.raises(InstanceStartError, match="does not exist: /x/y"):
        check_working_dir("/x/y")
