"""Counters kept by a bus, for metrics and for tests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["BusStats"]


@dataclass(slots=True)
class BusStats:
    """Monotonic counters; read them, never write them from outside the bus."""

    published: int = 0
    """Events handed to ``publish`` / ``publish_persistent``."""
    persisted: int = 0
    """Events appended to the event log."""
    delivered: int = 0
    """Frames accepted by sinks (live and replayed)."""
    dropped_slow_consumers: int = 0
    """Subscriptions dropped because their sink overflowed."""
    dropped_closed: int = 0
    """Subscriptions dropped because their sink was found closed."""
    replies_matched: int = 0
    """Replies that reached a waiting call."""
    replies_unmatched: int = 0
    """Replies nobody waited for: late, duplicate, wrong previousIds or unknown."""
    calls: int = 0
    call_retries: int = 0
    call_timeouts: int = 0
    call_errors: int = 0
    resumes: int = 0
    """Subscriptions made with ``since``."""
    replayed: int = 0
    """Frames delivered from the log during resumes."""
    resyncs: int = 0
    """Resumes refused with ``resync.required`` because ``since`` was purged."""

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)
