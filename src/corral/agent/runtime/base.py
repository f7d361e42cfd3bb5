"""The runtime driver interface: how the host agent makes an instance real.

An *instance* in corral is whatever a driver makes of an :class:`InstanceSpec`. The first
driver (:mod:`corral.agent.runtime.local`) runs it as a plain OS process; container drivers can
follow behind the same interface. The agent only ever talks to :class:`RuntimeDriver`.

Errors, all of them also :class:`RuntimeError` so callers outside corral can catch them::

    CorralError
     └── RuntimeDriverError (also RuntimeError)
          ├── InstanceStartError     the spec cannot be started (message says why, for a person)
          ├── InvalidNameError       a uuid or volume name that is unsafe as a file name
          └── VolumeInUseError       removing a volume that a running instance uses

Exit notices: a driver tells its listeners when an instance that should be running stopped on
its own (it crashed, exited, was killed from outside, or died while the agent was down). A
listener receives the instance's :class:`InstanceFacts` with ``state == "stopped"``. Stops the
agent asked for are answered by :meth:`RuntimeDriver.stop` and produce no notice, nor does an
exit that a ``start`` of the same instance finds and answers by starting it again.
"""

from __future__ import annotations

import abc
import builtins
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from corral.errors import CorralError

logger = logging.getLogger(__name__)

InstanceState = Literal["running", "stopped", "removed"]
ExitListener = Callable[["InstanceFacts"], Awaitable[None] | None]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


class RuntimeDriverError(CorralError, RuntimeError):
    """Base of the errors a runtime driver raises on purpose."""


class InstanceStartError(RuntimeDriverError):
    """The instance cannot be started; the message tells a person what to fix."""

    def __init__(self, message: str, *, uuid: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.uuid = uuid


class InvalidNameError(RuntimeDriverError, ValueError):
    """A uuid or volume name that cannot safely name a directory."""


class VolumeInUseError(RuntimeDriverError):
    """A volume cannot be removed while a running instance uses it."""


def check_name(value: str, *, what: str) -> str:
    """Return *value* if it is safe as one path component, else raise :class:`InvalidNameError`.

    Letters, digits, ``_``, ``.`` and ``-``, starting with a letter or digit, at most 255 long.
    """
    if not isinstance(value, str) or not _SAFE_NAME.match(value):
        raise InvalidNameError(
            f"invalid {what}: {value!r} (use letters, digits, '_', '.', '-'; "
            "start with a letter or digit)"
        )
    return value


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """What to run. ``volumes`` holds volume names or absolute host paths."""

    uuid: str
    name: str = ""
    command: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "name": self.name,
            "command": list(self.command),
            "environment": dict(self.environment),
            "workingDir": self.working_dir,
            "labels": dict(self.labels),
            "volumes": list(self.volumes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InstanceSpec:
        return cls(
            uuid=str(data["uuid"]),
            name=str(data.get("name") or ""),
            command=[str(part) for part in data.get("command") or []],
            environment={str(k): str(v) for k, v in (data.get("environment") or {}).items()},
            working_dir=data.get("workingDir"),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            volumes=[str(v) for v in data.get("volumes") or []],
        )


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """What is true about an instance on this host right now.

    ``pid`` is the instance's ``externalId``. ``exit_code`` follows the shell: a process killed
    by signal N reports ``128 + N``; ``None`` when unknown (it died while not our child).
    Times are seconds since the epoch.
    """

    uuid: str
    state: InstanceState
    pid: int | None = None
    exit_code: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    log_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RuntimeDriver(abc.ABC):
    """Runs instances on this host. Every operation is idempotent: a retried event is safe.

    Use as ``async with driver:`` (or call :meth:`open` / :meth:`aclose`) so that background
    exit watching runs. Register exit listeners *before* calling :meth:`recover`, so that the
    instances that died while the agent was down are reported too.
    """

    def __init__(self) -> None:
        self._exit_listeners: list[ExitListener] = []

    # -- lifecycle of the driver itself -------------------------------------------------------

    async def open(self) -> None:
        """Start background work (exit watching). Default: nothing."""

    async def aclose(self) -> None:
        """Stop background work. Instances keep running. Default: nothing."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- instances -----------------------------------------------------------------------------

    @abc.abstractmethod
    async def start(self, spec: InstanceSpec) -> InstanceFacts:
        """Start the instance, or return its facts if it already runs (no second copy)."""

    @abc.abstractmethod
    async def stop(self, uuid: str, *, timeout: float) -> InstanceFacts:
        """Ask it to stop, force it after *timeout* seconds. A stopped instance is left be;
        an unknown uuid yields facts with ``state == "removed"``."""

    @abc.abstractmethod
    async def remove(self, uuid: str, *, timeout: float = 10.0) -> None:
        """Stop it if needed (as :meth:`stop` with *timeout*), then forget it and its files.
        Unknown uuids are fine."""

    @abc.abstractmethod
    async def inspect(self, uuid: str) -> InstanceFacts | None:
        """The facts of one instance, or ``None`` if this host does not know it."""

    @abc.abstractmethod
    async def list(self) -> builtins.list[InstanceFacts]:
        """The facts of every instance this host knows."""

    @abc.abstractmethod
    async def recover(self) -> builtins.list[InstanceFacts]:
        """Called on agent start: take over what a previous agent left. Instances still
        running are adopted (never started again); those that died meanwhile become stopped
        and are reported to exit listeners. Returns the facts of every known instance."""

    # -- volumes -------------------------------------------------------------------------------

    @abc.abstractmethod
    async def create_volume(self, name: str) -> str:
        """Create the named volume if missing; return where it lives."""

    @abc.abstractmethod
    async def remove_volume(self, name: str) -> None:
        """Delete the named volume and its content; a missing volume is fine."""

    # -- exit notices ----------------------------------------------------------------------------

    def add_exit_listener(self, listener: ExitListener) -> None:
        """Call *listener* (plain or async) with the facts of each instance that stopped on
        its own. Exceptions raised by a listener are logged and do not stop the driver."""
        self._exit_listeners.append(listener)

    def remove_exit_listener(self, listener: ExitListener) -> None:
        try:
            self._exit_listeners.remove(listener)
        except ValueError:
            pass

    async def _notify_exit(self, facts: InstanceFacts) -> None:
        logger.info(
            "instance exited uuid=%s pid=%s exit_code=%s", facts.uuid, facts.pid, facts.exit_code
        )
        for listener in list(self._exit_listeners):
            try:
                result = listener(facts)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("exit listener failed uuid=%s", facts.uuid)
