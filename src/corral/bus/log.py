"""The persisted event stream behind resume (wire protocol §7).

Every persisted event gets a monotonically increasing ``seq``. A subscriber that comes
back with ``since=<last seq seen>`` is replayed everything after it from the log. The
log may forget old events (purge); ``oldest_seq`` tells the bus where that horizon is.

``EventLog`` is the boundary; ``MemoryEventLog`` is the bounded in-memory fake for tests
and for running without a database. The store package provides the database one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from corral.protocol.event import Event

__all__ = ["EventLog", "MemoryEventLog"]


class EventLog(ABC):
    """Append-only, seq-numbered event storage.

    Contract: ``append`` assigns ``event.seq`` (greater than every seq before it) and
    returns it; ``read_since(seq, limit)`` returns at most ``limit`` kept events with a
    seq greater than ``seq``, in ascending seq order. Seqs may have gaps.
    """

    @abstractmethod
    async def append(self, event: Event) -> int:
        """Store ``event``, set ``event.seq`` and return it."""

    async def append_many(self, events: Sequence[Event]) -> list[int]:
        """Store several events in order (one transaction where the store allows)."""
        return [await self.append(event) for event in events]

    @abstractmethod
    async def read_since(self, seq: int, limit: int) -> list[Event]:
        """Kept events with a seq greater than ``seq``, ascending, at most ``limit``."""

    @abstractmethod
    async def oldest_seq(self) -> int | None:
        """The smallest seq still kept; None if nothing is kept."""

    @abstractmethod
    async def last_seq(self) -> int:
        """The greatest seq ever assigned (kept or purged); 0 if none."""


class MemoryEventLog(EventLog):
    """Keeps the last ``max_events`` events in memory; older ones are purged.

    Seqs are contiguous here, so ``read_since`` is a slice. No method awaits anything,
    so append and read are atomic with respect to other tasks.
    """

    def __init__(self, max_events: int = 10_000, *, start_seq: int = 0) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.max_events = max_events
        self._events: list[Event] = []
        self._head = 0  # index of the oldest kept event in _events
        self._last = start_seq

    def __len__(self) -> int:
        return len(self._events) - self._head

    async def append(self, event: Event) -> int:
        return self._append(event)

    async def append_many(self, events: Sequence[Event]) -> list[int]:
        return [self._append(event) for event in events]

    def _append(self, event: Event) -> int:
        self._last += 1
        event.seq = self._last
        self._events.append(event)
        if len(self._events) - self._head > self.max_events:
            self._head += 1
            if self._head >= self.max_events:  # compact now and then, not every time
                del self._events[: self._head]
                self._head = 0
        return self._last

    async def read_since(self, seq: int, limit: int) -> list[Event]:
        if limit < 1 or seq >= self._last:
            return []
        kept = len(self._events) - self._head
        if kept == 0:
            return []
        first_seq = self._last - kept + 1
        start = self._head + max(0, seq - first_seq + 1)
        return self._events[start : start + limit]

    async def oldest_seq(self) -> int | None:
        kept = len(self._events) - self._head
        return None if kept == 0 else self._last - kept + 1

    async def last_seq(self) -> int:
        return self._last

    def purge_through(self, seq: int) -> int:
        """Forget every event with a seq up to ``seq``; returns how many were dropped."""
        kept = len(self._events) - self._head
        first_seq = self._last - kept + 1
        drop = max(0, min(kept, seq - first_seq + 1))
        if drop:
            del self._events[: self._head + drop]
            self._head = 0
        return drop
