"""A bounded log of a process's attempts, for ``process_execution.log``.

Each attempt records its number, server id, start and stop time, exit reason,
exception text, and a list of entries: state transitions, handlers run, events
sent, replies received and reply timeouts. A process retried for days must not
grow its log without bound, so:

* at most ``max_attempts`` attempts are kept: the first ``keep_first_attempts``
  and the most recent rest (the middle ones are dropped and counted);
* at most ``max_entries`` entries per attempt: the first
  ``keep_first_entries`` and the most recent rest;
* every string is cut at ``max_text`` characters (exceptions at
  ``max_exception``), with a marker saying how much was cut.

``to_json()`` says whether anything was dropped (``truncated``). The size is
bounded by construction: about max_attempts × (max_entries × ~5 × max_text +
max_exception) characters (≈ 2 MB with the defaults in the worst case, a few
hundred bytes in the usual one). :meth:`ExecutionLog.from_json` reads a stored
log back so a later attempt can be appended to it.

Pure: times are given by the caller (epoch seconds).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AttemptLog", "ExecutionLog", "LogLimits", "truncate"]


@dataclass(frozen=True, slots=True)
class LogLimits:
    max_attempts: int = 10
    keep_first_attempts: int = 2
    max_entries: int = 40
    keep_first_entries: int = 10
    max_text: int = 1000
    max_exception: int = 4000

    def __post_init__(self) -> None:
        if not 0 <= self.keep_first_attempts < self.max_attempts:
            raise ValueError("need 0 <= keep_first_attempts < max_attempts")
        if not 0 <= self.keep_first_entries < self.max_entries:
            raise ValueError("need 0 <= keep_first_entries < max_entries")
        if self.max_text < 1 or self.max_exception < 1:
            raise ValueError("text limits must be positive")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters plus a marker, if longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more chars]"


@dataclass(slots=True)
class AttemptLog:
    attempt: int
    server_id: str | None
    start: float
    stop: float | None = None
    exit_reason: str | None = None
    exception: str | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    dropped_entries: int = 0

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "attempt": self.attempt,
            "serverId": self.server_id,
            "start": self.start,
            "stop": self.stop,
            "exitReason": self.exit_reason,
        }
        if self.exception is not None:
            body["exception"] = self.exception
        body["entries"] = list(self.entries)
        if self.dropped_entries:
            body["droppedEntries"] = self.dropped_entries
        return body


class ExecutionLog:
    """Builds the JSON log of one process instance, attempt by attempt."""

    def __init__(
        self,
        *,
        process_name: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        limits: LogLimits | None = None,
    ) -> None:
        self.process_name = process_name
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.limits = limits or LogLimits()
        self.attempts: list[AttemptLog] = []
        self.dropped_attempts = 0
        self._current: AttemptLog | None = None

    # -- attempts ------------------------------------------------------------

    def begin_attempt(self, *, attempt: int, server_id: str | None, time: float) -> AttemptLog:
        """Open a new attempt (ending any attempt left open)."""
        record = AttemptLog(attempt=attempt, server_id=self._text(server_id), start=time)
        self._push_attempt(record)
        self._current = record
        return record

    def end_attempt(self, *, exit_reason: str, time: float) -> None:
        current = self._require()
        current.stop = time
        current.exit_reason = str(exit_reason)
        self._current = None

    def set_exception(self, error: BaseException | str) -> None:
        """Record the exception that ended the current attempt."""
        if isinstance(error, BaseException):
            text = "".join(traceback.format_exception(error)).rstrip()
        else:
            text = error
        self._require().exception = truncate(text, self.limits.max_exception)

    # -- entries -------------------------------------------------------------

    def transition(self, from_state: str | None, to_state: str, *, time: float) -> None:
        self._add({"type": "transition", "time": time, "from": from_state, "to": to_state})

    def handler(self, name: str, *, time: float, result: str | None = None) -> None:
        self._add({"type": "handler", "time": time, "name": name, "result": result})

    def event_sent(
        self,
        *,
        name: str,
        event_id: str,
        time: float,
        reply_to: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self._add(
            {
                "type": "event",
                "time": time,
                "name": name,
                "id": event_id,
                "replyTo": reply_to,
                "timeout": timeout,
            }
        )

    def reply_received(
        self,
        *,
        name: str,
        event_id: str,
        previous_id: str | None,
        time: float,
        transitioning: str | None = None,
        message: str | None = None,
    ) -> None:
        self._add(
            {
                "type": "reply",
                "time": time,
                "name": name,
                "id": event_id,
                "previousId": previous_id,
                "transitioning": transitioning,
                "message": message,
            }
        )

    def reply_timeout(self, *, name: str, event_id: str, time: float, timeout: float) -> None:
        self._add(
            {"type": "timeout", "time": time, "name": name, "id": event_id, "timeout": timeout}
        )

    def note(self, text: str, *, time: float) -> None:
        self._add({"type": "note", "time": time, "text": text})

    # -- output --------------------------------------------------------------

    @property
    def truncated(self) -> bool:
        return bool(self.dropped_attempts) or any(a.dropped_entries for a in self.attempts)

    def to_json(self) -> dict[str, Any]:
        return {
            "processName": self.process_name,
            "resourceType": self.resource_type,
            "resourceId": self.resource_id,
            "truncated": self.truncated,
            "droppedAttempts": self.dropped_attempts,
            "attempts": [a.to_json() for a in self.attempts],
        }

    @classmethod
    def from_json(
        cls, data: dict[str, Any] | None, *, limits: LogLimits | None = None
    ) -> ExecutionLog:
        """Read a stored log back (limits are applied again), to append to it."""
        data = data or {}
        log = cls(
            process_name=data.get("processName"),
            resource_type=data.get("resourceType"),
            resource_id=data.get("resourceId"),
            limits=limits,
        )
        log.dropped_attempts = int(data.get("droppedAttempts") or 0)
        for item in data.get("attempts") or ():
            record = AttemptLog(
                attempt=int(item.get("attempt") or 0),
                server_id=item.get("serverId"),
                start=float(item.get("start") or 0.0),
                stop=item.get("stop"),
                exit_reason=item.get("exitReason"),
                exception=item.get("exception"),
                dropped_entries=int(item.get("droppedEntries") or 0),
            )
            log._push_attempt(record)
            for entry in item.get("entries") or ():
                log._append(record, dict(entry))
        return log

    # -- internals -----------------------------------------------------------

    def _require(self) -> AttemptLog:
        if self._current is None:
            raise RuntimeError("no attempt begun: call begin_attempt() first")
        return self._current

    def _push_attempt(self, record: AttemptLog) -> None:
        limits = self.limits
        if len(self.attempts) >= limits.max_attempts:
            del self.attempts[limits.keep_first_attempts]
            self.dropped_attempts += 1
        self.attempts.append(record)

    def _add(self, entry: dict[str, Any]) -> None:
        self._append(self._require(), entry)

    def _append(self, record: AttemptLog, entry: dict[str, Any]) -> None:
        limits = self.limits
        clean = {key: self._text(value) for key, value in entry.items() if value is not None}
        if len(record.entries) >= limits.max_entries:
            del record.entries[limits.keep_first_entries]
            record.dropped_entries += 1
        record.entries.append(clean)

    def _text(self, value: Any) -> Any:
        if isinstance(value, str):
            return truncate(value, self.limits.max_text)
        return value
