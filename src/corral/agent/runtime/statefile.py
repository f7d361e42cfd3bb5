"""The per-instance state file, ``<data_dir>/instances/<uuid>/state.json``.

It is what lets a restarted agent (even one killed with ``kill -9``) take its instances back:
the spec, the pid and the pid's start time (see :mod:`corral.agent.runtime.procfs`), the state.
Writes are atomic — a temporary file in the same directory, flushed, then renamed over the old
one — so a reader sees either the old record or the new one, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.agent.runtime.base import InstanceFacts, InstanceSpec, InstanceState

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
LOG_FILE = "output.log"
FORMAT_VERSION = 1


class StateFileError(ValueError):
    """A state file that cannot be read as a record."""


@dataclass(slots=True)
class InstanceRecord:
    """Everything the local driver knows about one instance (the state file, in memory)."""

    spec: InstanceSpec
    state: InstanceState
    directory: Path
    pid: int | None = None
    pid_start_time: int | None = None
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def uuid(self) -> str:
        return self.spec.uuid

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def log_path(self) -> Path:
        return self.directory / LOG_FILE

    def facts(self) -> InstanceFacts:
        return InstanceFacts(
            uuid=self.uuid,
            state=self.state,
            pid=self.pid,
            exit_code=self.exit_code,
            started_at=self.started_at,
            finished_at=self.finished_at,
            log_path=str(self.log_path),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "state": self.state,
            "pid": self.pid,
            "pidStartTime": self.pid_start_time,
            "exitCode": self.exit_code,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, directory: Path) -> InstanceRecord:
        try:
            spec = InstanceSpec.from_dict(data["spec"])
            state = data["state"]
            if state not in ("running", "stopped"):
                raise StateFileError(f"unknown state {state!r}")
            return cls(
                spec=spec,
                state=state,
                directory=directory,
                pid=_opt_int(data.get("pid")),
                pid_start_time=_opt_int(data.get("pidStartTime")),
                exit_code=_opt_int(data.get("exitCode")),
                started_at=_opt_float(data.get("startedAt")),
                finished_at=_opt_float(data.get("finishedAt")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, StateFileError):
                raise
            raise StateFileError(f"malformed state file: {exc!r}") from exc


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def write_record(record: InstanceRecord) -> None:
    """Write *record* to its state file atomically (tmp file + fsync + rename)."""
    record.directory.mkdir(parents=True, exist_ok=True)
    target = record.state_path
    tmp = target.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    payload = json.dumps(record.to_json(), indent=2, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    logger.debug("state written uuid=%s state=%s pid=%s", record.uuid, record.state, record.pid)


def read_record(directory: Path) -> InstanceRecord:
    """Read the record in *directory*; :class:`StateFileError` if missing or malformed."""
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise StateFileError(f"no state file in {directory}") from exc
    except (OSError, ValueError) as exc:
        raise StateFileError(f"unreadable state file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise StateFileError(f"state file {path} does not hold an object")
    record = InstanceRecord.from_json(data, directory=directory)
    if record.uuid != directory.name:
        raise StateFileError(f"state file {path} names another uuid: {record.uuid!r}")
    return record
