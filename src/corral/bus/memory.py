"""The in-process event bus.

Publishing one event to N subscribers is one dict lookup, one ``orjson.dumps`` per
distinct delivery name (usually one: every qualified subscriber sees the stripped name)
and N non-blocking ``offer`` calls. A sink that refuses (full or closed) is dropped.

Resuming subscriptions (``since``) are handed to ``corral.bus.resume``; while they
replay, ``_route`` appends their live frames to ``Subscription.held``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from corral.bus.base import EventBus
from corral.bus.correlator import Correlator, ProgressCallback
from corral.bus.log import EventLog
from corral.bus.resume import Resume
from corral.bus.sink import (
    CLOSE_GOING_AWAY,
    CLOSE_SLOW_CONSUMER,
    Sink,
)
from corral.bus.stats import BusStats
from corral.bus.subscription import DeliveryName, Subscription, SubscriptionIndex
from corral.errors import BusError, ProtocolError
from corral.protocol import names as _names
from corral.protocol.event import Event, encode

__all__ = ["Bus"]

log = logging.getLogger(__name__)

_REPLY_PREFIX = _names.REPLY_PREFIX
_ACCOUNT_QUALIFIER = ";account="


class Bus(EventBus):
    """In-process bus: subscription index, per-sink queues, calls, resumable stream.

    ``log`` is the event log used by ``publish_persistent`` and ``since``; without one
    those raise BusError. ``replay_page`` is how many events a resume reads at a time;
    ``hold_limit`` is how many live frames a resuming subscriber may fall behind
    before it is disconnected as a slow consumer.
    """

    def __init__(
        self,
        *,
        log: EventLog | None = None,
        replay_page: int = 500,
        hold_limit: int = 10_000,
    ) -> None:
        if replay_page < 1 or hold_limit < 1:
            raise ValueError("replay_page and hold_limit must be at least 1")
        self.stats = BusStats()
        self._log = log
        self._replay_page = replay_page
        self._hold_limit = hold_limit
        self._index = SubscriptionIndex()
        self._correlator = Correlator(self.stats)
        self._persist_lock = asyncio.Lock()
        # The seq of the last persisted event routed here; a subscription registered now
        # gets, live, every event after it (set from the log at start-up).
        self.last_seq = 0
        self._closed = False

    @property
    def event_log(self) -> EventLog | None:
        return self._log

    @property
    def subscriptions(self) -> int:
        return len(self._index)

    @property
    def pending_calls(self) -> int:
        return len(self._correlator)

    # ------------------------------------------------------------------ publish

    async def publish(self, event: Event) -> int:
        self.stats.published += 1
        return self._route(event)

    async def publish_persistent(self, event: Event) -> int:
        log_ = self._require_log()
        async with self._persist_lock:
            seq = await log_.append(event)
            self.stats.persisted += 1
            self.stats.published += 1
            self._route(event)
        return seq

    async def publish_persistent_many(self, events: Sequence[Event]) -> list[int]:
        if not events:
            return []
        log_ = self._require_log()
        async with self._persist_lock:
            seqs = await log_.append_many(events)
            self.stats.persisted += len(events)
            self.stats.published += len(events)
            for event in events:
                self._route(event)
        return seqs

    def _route(self, event: Event) -> int:
        """Deliver ``event`` to local subscribers; never awaits."""
        name = event.name
        if event.seq is not None:
            self.last_seq = event.seq
        claimed = False
        if name.startswith(_REPLY_PREFIX):
            claimed = self._correlator.offer(event)
        index = self._index
        subs = index.by_name.get(name)
        # ``*`` gets each event once: an account-qualified event is a per-project copy of
        # a raw one (resource.change per visibility group), so the wildcard skips it.
        wildcard = index.wildcard if _ACCOUNT_QUALIFIER not in name else None
        if not subs:
            if name.startswith(_REPLY_PREFIX) and not claimed:
                self.stats.replies_unmatched += 1
                log.debug("unmatched reply %s (previousIds %s)", name, event.previous_ids)
            if not wildcard:
                return 0
        frames: dict[DeliveryName | None, bytes] = {}
        delivered = 0
        dead: list[Subscription] | None = None
        for group in (subs, wildcard):
            if not group:
                continue
            for sub in group:
                key = sub.delivery_name
                frame = frames.get(key)
                if frame is None:
                    frame = encode(event, name=None if key is None else key(name))
                    frames[key] = frame
                held = sub.held
                if held is not None:
                    held.append((event.seq, frame))
                    if len(held) > self._hold_limit:
                        sub.sink.close(
                            CLOSE_SLOW_CONSUMER,
                            f"slow consumer: fell {self._hold_limit} events behind while resuming",
                            discard=True,
                        )
                        dead = dead or []
                        dead.append(sub)
                elif sub.sink.offer(frame):
                    delivered += 1
                else:
                    dead = dead or []
                    dead.append(sub)
        if dead:
            for sub in dead:
                self._drop(sub)
        self.stats.delivered += delivered
        return delivered

    # ------------------------------------------------------------------ subscribe

    async def subscribe(
        self,
        names: Iterable[str],
        sink: Sink,
        *,
        since: int | None = None,
        delivery_name: DeliveryName | None = _names.strip,
        label: str = "",
    ) -> Subscription:
        if self._closed:
            raise BusError("the bus is closed")
        wanted = frozenset(_names.validate(n, field_name="eventNames") for n in names)
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
            raise ProtocolError("since must be an integer", field_name="since")
        sub = Subscription(wanted, sink, delivery_name, label)
        if since is None:
            self._index.add(sub)
            log.debug("subscribed %s to %s", label or sink, sorted(wanted))
            return sub
        event_log = self._require_log()
        self.stats.resumes += 1
        sub.held = []
        self._index.add(sub)
        resume = Resume(
            sub,
            log=event_log,
            lock=self._persist_lock,
            stats=self.stats,
            page=self._replay_page,
            drop=self._drop,
            remove=self._remove,
        )
        try:
            await resume.run(since)
        except BaseException:
            self._remove(sub)
            raise
        log.debug("resumed %s from seq %d on %s", label or sink, since, sorted(wanted))
        return sub

    async def unsubscribe(self, subscription: Subscription) -> None:
        self._remove(subscription)

    # ------------------------------------------------------------------ calls

    async def call(
        self,
        event: Event,
        *,
        timeout: float,
        retries: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> Event:
        if self._closed:
            raise BusError("the bus is closed")
        return await self._correlator.call(
            self.publish, event, timeout=timeout, retries=retries, on_progress=on_progress
        )

    # ------------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sub in list(self._index):
            self._remove(sub)
            sub.sink.close(CLOSE_GOING_AWAY, "server shutting down")
        self._correlator.close(BusError("the bus is closed"))

    # ------------------------------------------------------------------ internals

    def _require_log(self) -> EventLog:
        if self._log is None:
            raise BusError("this bus has no event log: persistence and resume are off")
        return self._log

    def _remove(self, sub: Subscription) -> bool:
        sub.active = False
        sub.held = None
        return self._index.remove(sub)

    def _drop(self, sub: Subscription) -> None:
        """Remove a subscription whose sink refused a frame."""
        if not self._remove(sub):
            return
        if sub.sink.close_code == CLOSE_SLOW_CONSUMER:
            self.stats.dropped_slow_consumers += 1
            log.warning("dropped slow consumer %s: %s", sub.label or sub.sink, _reason(sub.sink))
        else:
            self.stats.dropped_closed += 1
            log.debug("dropped closed sink %s", sub.label or sub.sink)


def _reason(sink: Sink) -> str:
    return str(getattr(sink, "close_reason", "") or "")
