"""The event bus interface that callers (engine, WebSocket endpoint, publish API) use.

``Bus`` (in-process) implements it today; a Redis or NATS backplane can implement it
later without touching callers: local subscriptions, sinks and pending calls stay in
the process, only the path from ``publish`` to the other processes changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence

from corral.bus.correlator import ProgressCallback
from corral.bus.sink import Sink
from corral.bus.stats import BusStats
from corral.bus.subscription import DeliveryName, Subscription
from corral.protocol import names as _names
from corral.protocol.event import Event

__all__ = ["EventBus"]


class EventBus(ABC):
    """Publish, subscribe, call; with a resumable stream of persisted events."""

    stats: BusStats
    last_seq: int  # seq of the last persisted event routed to local subscribers

    @abstractmethod
    async def publish(self, event: Event) -> int:
        """Deliver ``event`` to the subscribers of ``event.name`` (exactly) and of ``*``.

        A reply (``reply.*``) is offered to the waiting call first. Never waits for a
        subscriber. Returns how many local sinks took it.
        """

    @abstractmethod
    async def publish_persistent(self, event: Event) -> int:
        """Append ``event`` to the event log (setting ``event.seq``), then publish it.

        Returns the seq. Live delivery follows seq order.
        """

    @abstractmethod
    async def publish_persistent_many(self, events: Sequence[Event]) -> list[int]:
        """Append several events in one go (one transaction where possible), then publish
        each in seq order. For ``resource.change``: one event per visibility group."""

    @abstractmethod
    async def subscribe(
        self,
        names: Iterable[str],
        sink: Sink,
        *,
        since: int | None = None,
        delivery_name: DeliveryName | None = _names.strip,
        label: str = "",
    ) -> Subscription:
        """Deliver events named one of ``names`` (already qualified) to ``sink``.

        With ``since``: first every logged event after ``since`` that matches, then the
        live stream, with no gap and no duplicate. If ``since`` was purged the sink gets
        one ``resync.required`` event and is closed with code 4010.
        """

    @abstractmethod
    async def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (idempotent). The sink is not closed."""

    @abstractmethod
    async def call(
        self,
        event: Event,
        *,
        timeout: float,
        retries: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> Event:
        """Publish ``event`` as a call and return its final reply.

        Raises ErrorReply (transitioning=error) or CallTimeout (no final reply after
        ``retries`` resends, each a new event).
        """

    @abstractmethod
    async def close(self) -> None:
        """Close every sink (code 1001) and fail every waiting call."""
