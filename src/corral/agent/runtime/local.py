"""``LocalProcessDriver``: an instance is a real OS process on the agent's machine.

Layout under ``data_dir``::

    instances/<uuid>/state.json   spec, pid, pid start time, state (atomic writes)
    instances/<uuid>/output.log   the process's stdout + stderr, appended across restarts
    volumes/<name>/               named volumes

Processes run in their own session, so they outlive the agent, even a ``kill -9`` of it. A new
agent finds them again through :meth:`LocalProcessDriver.recover`, which trusts a pid only when
its start time in ``/proc`` matches the recorded one (a reused pid is never taken for ours).
After a restart the processes are no longer the agent's children, so exits are found by polling
``/proc`` every ``poll_interval`` seconds; processes that *are* our children are also reaped
(``waitpid``), which yields their exit code and leaves no zombies.

Each instance has an :class:`asyncio.Lock`; start, stop, remove and the exit check of one
instance never interleave. Exit notices are sent after the lock is released, so a listener may
call back into the driver (e.g. to restart the instance).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from corral.agent.runtime import procfs
from corral.agent.runtime.base import (
    InstanceFacts,
    InstanceSpec,
    InstanceStartError,
    InvalidNameError,
    RuntimeDriver,
    RuntimeDriverError,
    VolumeInUseError,
    check_name,
)
from corral.agent.runtime.spawn import (
    base_environment,
    build_environment,
    check_working_dir,
    resolve_command,
    spawn_detached,
)
from corral.agent.runtime.statefile import (
    STATE_FILE,
    InstanceRecord,
    StateFileError,
    read_record,
    write_record,
)
from corral.agent.runtime.volumes import VOLUMES_ENV, VolumeStore, volume_source

logger = logging.getLogger(__name__)

FactsList = list[InstanceFacts]


class LocalProcessDriver(RuntimeDriver):
    """Runs each instance as a detached process. See the module docstring."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        poll_interval: float = 0.5,
        stop_poll_interval: float = 0.05,
        kill_grace: float = 5.0,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.instances_dir = self.data_dir / "instances"
        self.volumes_dir = self.data_dir / "volumes"
        self._volumes = VolumeStore(self.volumes_dir)
        self.poll_interval = poll_interval
        self.stop_poll_interval = stop_poll_interval
        self.kill_grace = kill_grace
        self._base_env = dict(base_env) if base_env is not None else base_environment()
        self._records: dict[str, InstanceRecord] = {}
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._watch_task: asyncio.Task[None] | None = None

    # -- driver lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        self.volumes_dir.mkdir(parents=True, exist_ok=True)
        if self._watch_task is None or self._watch_task.done():
            self._watch_task = asyncio.create_task(self._watch_loop(), name="runtime-exit-watch")

    async def aclose(self) -> None:
        task, self._watch_task = self._watch_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch_loop(self) -> None:
        logger.debug("exit watch started interval=%ss", self.poll_interval)
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.check_exits()
            except Exception:
                logger.exception("exit check failed")

    # -- instances -----------------------------------------------------------------------------

    async def start(self, spec: InstanceSpec) -> InstanceFacts:
        uuid = check_name(spec.uuid, what="instance uuid")
        async with self._lock(uuid):
            record, notice = self._current(uuid)
            if record is not None and record.state == "running":
                logger.debug("start: already running uuid=%s pid=%s", uuid, record.pid)
                return record.facts()
            if notice is not None:
                # It died unnoticed and is started again right now: the answer to this start
                # is the news, a "stopped" notice arriving after it would only mislead.
                logger.info("start: previous process had exited uuid=%s pid=%s", uuid, notice.pid)
            return self._spawn(spec)

    async def stop(self, uuid: str, *, timeout: float) -> InstanceFacts:
        check_name(uuid, what="instance uuid")
        async with self._lock(uuid):
            record, notice = self._current(uuid)
            if record is None:
                return InstanceFacts(uuid=uuid, state="removed")
            if record.state == "running":
                await self._terminate(record, timeout=timeout)
            facts = record.facts()
        if notice is not None:  # it had died on its own before we came to stop it
            await self._notify_exit(notice)
        return facts

    async def remove(self, uuid: str, *, timeout: float = 10.0) -> None:
        check_name(uuid, what="instance uuid")
        async with self._lock(uuid):
            record, _ = self._current(uuid)
            if record is not None and record.state == "running":
                await self._terminate(record, timeout=timeout)
            self._records.pop(uuid, None)
            self._children.pop(uuid, None)
            directory = self.instances_dir / uuid
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(shutil.rmtree, directory)
        logger.info("instance removed uuid=%s", uuid)

    async def inspect(self, uuid: str) -> InstanceFacts | None:
        check_name(uuid, what="instance uuid")
        async with self._lock(uuid):
            record, notice = self._current(uuid)
        if notice is not None:
            await self._notify_exit(notice)
        return None if record is None else record.facts()

    async def list(self) -> FactsList:
        return await self._refresh_all(self._known_uuids())

    async def recover(self) -> FactsList:
        """Adopt every instance recorded under ``data_dir``. See :meth:`RuntimeDriver.recover`."""
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        facts = await self._refresh_all(self._known_uuids())
        running = sum(1 for f in facts if f.state == "running")
        logger.info("recovered instances total=%d running=%d", len(facts), running)
        return facts

    async def check_exits(self) -> FactsList:
        """One pass of exit watching over the instances that should be running; returns the
        notices it sent. Instances busy in another operation are left for the next pass."""
        notices: FactsList = []
        for uuid, record in builtins.list(self._records.items()):
            if record.state != "running" or self._lock(uuid).locked():
                continue
            async with self._lock(uuid):
                _, notice = self._current(uuid)
            if notice is not None:
                notices.append(notice)
        for notice in notices:
            await self._notify_exit(notice)
        return notices

    # -- volumes -------------------------------------------------------------------------------

    def volume_path(self, name: str) -> Path:
        return self._volumes.path(name)

    async def create_volume(self, name: str) -> str:
        return str(self._volumes.create(name))

    async def remove_volume(self, name: str) -> None:
        self._volumes.path(name)  # refuse unsafe names before looking further
        users = [
            r.uuid
            for r in self._records.values()
            if r.state == "running" and name in (volume_source(v) for v in r.spec.volumes)
        ]
        if users:
            raise VolumeInUseError(f"volume {name!r} is in use by running instance(s): {users}")
        await self._volumes.remove(name)

    # -- internals -----------------------------------------------------------------------------

    def _lock(self, uuid: str) -> asyncio.Lock:
        lock = self._locks.get(uuid)
        if lock is None:
            lock = self._locks[uuid] = asyncio.Lock()
        return lock

    def _known_uuids(self) -> builtins.list[str]:
        uuids = set(self._records)
        if self.instances_dir.is_dir():
            for entry in self.instances_dir.iterdir():
                if entry.is_dir() and (entry / STATE_FILE).exists():
                    try:
                        uuids.add(check_name(entry.name, what="instance uuid"))
                    except InvalidNameError:
                        logger.warning("ignoring instance directory %s", entry)
        return sorted(uuids)

    async def _refresh_all(self, uuids: builtins.list[str]) -> FactsList:
        facts: FactsList = []
        notices: FactsList = []
        for uuid in uuids:
            async with self._lock(uuid):
                record, notice = self._current(uuid)
            if record is not None:
                facts.append(record.facts())
            if notice is not None:
                notices.append(notice)
        for notice in notices:
            await self._notify_exit(notice)
        return facts

    def _load(self, uuid: str) -> InstanceRecord | None:
        """The record from memory, else from disk (adopting it). Caller holds the lock."""
        record = self._records.get(uuid)
        if record is not None:
            return record
        directory = self.instances_dir / uuid
        if not (directory / STATE_FILE).exists():
            return None
        try:
            record = read_record(directory)
        except StateFileError as exc:
            logger.warning("ignoring instance uuid=%s: %s", uuid, exc)
            return None
        self._records[uuid] = record
        logger.info("adopted instance uuid=%s state=%s pid=%s", uuid, record.state, record.pid)
        return record

    def _current(self, uuid: str) -> tuple[InstanceRecord | None, InstanceFacts | None]:
        """The record, brought up to date with reality, and an exit notice if it turned out to
        have died on its own. Caller holds the lock and sends the notice after releasing it."""
        record = self._load(uuid)
        if record is None or record.state != "running":
            return record, None
        alive, exit_code = self._probe(record)
        if alive:
            return record, None
        self._kill_leftovers(record)
        self._mark_stopped(record, exit_code)
        return record, record.facts()

    def _probe(self, record: InstanceRecord) -> tuple[bool, int | None]:
        """(alive, exit code if it just became known)."""
        child = self._children.get(record.uuid)
        if child is not None and child.pid == record.pid:
            returncode = child.poll()  # waitpid(WNOHANG): reaps it if it exited
            if returncode is None:
                return True, None
            del self._children[record.uuid]
            return False, procfs.exit_code_from_returncode(returncode)
        pid = record.pid
        if pid is None or pid <= 0:
            return False, None
        if not procfs.have_procfs():
            return procfs.pid_exists(pid), None
        stat = procfs.read_stat(pid)
        if stat is None or stat.start_time != record.pid_start_time:
            return False, None  # gone, or the pid now belongs to another process
        if stat.defunct:
            # Exited; if it is our child (e.g. a driver before us in this process started it),
            # reaping it yields the code and clears the zombie.
            return False, procfs.try_reap(pid) if stat.ppid == os.getpid() else None
        return True, None

    def _mark_stopped(self, record: InstanceRecord, exit_code: int | None) -> None:
        record.state = "stopped"
        record.exit_code = exit_code
        record.finished_at = time.time()
        self._children.pop(record.uuid, None)
        try:
            write_record(record)
        except OSError as exc:
            logger.error("cannot write state uuid=%s: %s", record.uuid, exc)
        logger.info(
            "instance stopped uuid=%s pid=%s exit_code=%s", record.uuid, record.pid, exit_code
        )

    def _spawn(self, spec: InstanceSpec) -> InstanceFacts:
        """Validate, then start the process and record it. Caller holds the lock."""
        uuid = spec.uuid
        directory = self.instances_dir / uuid
        cwd = check_working_dir(spec.working_dir, uuid=uuid) if spec.working_dir else None
        env = build_environment(spec.environment, base=self._base_env, uuid=uuid)
        executable = resolve_command(
            spec.command,
            search_path=env.get("PATH", ""),
            cwd=cwd or str(directory),
            uuid=uuid,
        )
        volume_paths = self._volumes.prepare(spec.volumes, uuid=uuid)
        if volume_paths:
            env.setdefault(VOLUMES_ENV, os.pathsep.join(volume_paths))
        directory.mkdir(parents=True, exist_ok=True)
        record = InstanceRecord(spec=spec, state="running", directory=directory)
        proc = spawn_detached(
            spec.command,
            executable=executable,
            env=env,
            cwd=cwd or str(directory),
            log_path=record.log_path,
            uuid=uuid,
        )
        record.pid = proc.pid
        record.pid_start_time = procfs.start_time_of(proc.pid)
        record.started_at = time.time()
        try:
            write_record(record)
        except OSError as exc:
            procfs.signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            raise InstanceStartError(f"cannot record instance state: {exc}", uuid=uuid) from exc
        self._records[uuid] = record
        self._children[uuid] = proc
        logger.info("instance started uuid=%s pid=%s command=%s", uuid, proc.pid, spec.command)
        return record.facts()

    async def _terminate(self, record: InstanceRecord, *, timeout: float) -> None:
        """SIGTERM the process group, SIGKILL it after *timeout*; record it stopped."""
        pid = record.pid
        alive, exit_code = self._probe(record)
        if alive and pid is not None:
            logger.info("stopping uuid=%s pid=%s timeout=%ss", record.uuid, pid, timeout)
            procfs.signal_group(pid, signal.SIGTERM)
            procfs.signal_group(pid, signal.SIGCONT)  # a stopped (SIGSTOP) process must wake
            alive, exit_code = await self._wait_gone(record, timeout)
            if alive:
                logger.warning("no exit after SIGTERM, killing uuid=%s pid=%s", record.uuid, pid)
                procfs.signal_group(pid, signal.SIGKILL)
                alive, exit_code = await self._wait_gone(record, self.kill_grace)
                if alive:
                    raise RuntimeDriverError(
                        f"instance {record.uuid} (pid {pid}) did not die after SIGKILL"
                    )
            self._kill_leftovers(record)
        self._mark_stopped(record, exit_code)

    def _kill_leftovers(self, record: InstanceRecord) -> None:
        """The instance is its process group: when the main process is gone, what it left in
        the group (children it did not take along) is killed too. Skipped when the pid now
        names another process; while any member of our group lives, the kernel does not hand
        the group's number out as a new pid, so ``killpg`` cannot reach a stranger's group."""
        pid = record.pid
        if pid is None or pid <= 0 or not procfs.have_procfs():
            return
        stat = procfs.read_stat(pid)
        if stat is not None and stat.start_time != record.pid_start_time:
            return
        if procfs.signal_group(pid, signal.SIGKILL):
            logger.info("killed what was left of group uuid=%s pgid=%s", record.uuid, pid)

    async def _wait_gone(self, record: InstanceRecord, timeout: float) -> tuple[bool, int | None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            alive, exit_code = self._probe(record)
            if not alive or loop.time() >= deadline:
                return alive, exit_code
            await asyncio.sleep(self.stop_poll_interval)
