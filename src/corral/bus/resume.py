"""Resume: replay the log to a subscription, then hand it to the live stream (§7).

No gap and no duplicate while other tasks publish, because:

1. the subscription is registered before anything is read, in *holding* mode: the bus
   appends its live frames to ``Subscription.held`` as ``(seq, frame)``;
2. the log is replayed page by page after ``since`` (``cursor`` = last seq read),
   waiting for the reader when its queue is three quarters full; held frames with
   ``seq <= cursor`` are forgotten, held frames without a seq (live, not persisted)
   are delivered as room allows;
3. once caught up, the tail is read under the persist lock, which
   ``publish_persistent`` holds from append to route, so every logged event has been
   read or held; the tail and the held frames with ``seq > cursor`` are offered
   without awaiting and the subscription goes live, all under the lock. If they do not
   fit in the reader's queue (keeping a quarter free for live events) the lock is
   released and step 2 continues.

A ``since`` older than the oldest kept seq (or ahead of the last one) is refused with one
``resync.required`` event and close code 4010: the client must re-list.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from corral.bus.log import EventLog
from corral.bus.sink import CLOSE_RESYNC_REQUIRED, Sink
from corral.bus.stats import BusStats
from corral.bus.subscription import Subscription
from corral.protocol.event import Event, encode

__all__ = ["RESYNC_REQUIRED", "Resume"]

log = logging.getLogger(__name__)

RESYNC_REQUIRED = "resync.required"
_TAIL_SLACK = 16  # room asked for beyond the held frames before trying to go live


def _headroom(sink: Sink) -> int:
    """Room a resume leaves free for live events, so that going live does not overflow."""
    return sink.capacity // 4


class Resume:
    """One resume of one subscription; ``run(since)`` does it.

    ``drop`` removes a subscription whose sink refused a frame (and counts why);
    ``remove`` removes it silently. Both come from the bus.
    """

    def __init__(
        self,
        sub: Subscription,
        *,
        log: EventLog,
        lock: asyncio.Lock,
        stats: BusStats,
        page: int,
        drop: Callable[[Subscription], None],
        remove: Callable[[Subscription], bool],
    ) -> None:
        self.sub = sub
        self.log = log
        self.lock = lock
        self.stats = stats
        self.page = page
        self.drop = drop
        self.remove = remove

    async def run(self, since: int) -> None:
        """Replay everything after ``since``, then go live (or resync, or drop)."""
        sub = self.sub
        event_log = self.log
        oldest = await event_log.oldest_seq()
        last = await event_log.last_seq()
        horizon = oldest if oldest is not None else last + 1
        if since < horizon - 1 or since > last:
            self._resync(sub, since, horizon, last)
            return
        sink = sub.sink
        page = self.page
        cursor = since
        first = True
        while True:
            # 1. Catch up without the lock, waiting for the reader whenever it is full.
            while True:
                batch = await event_log.read_since(cursor, page)
                if first:
                    first = False
                    if batch and batch[0].seq != since + 1:
                        oldest = await event_log.oldest_seq()
                        if oldest is not None and oldest > since + 1:  # purged meanwhile
                            self._resync(sub, since, oldest, last)
                            return
                moved = await self._replay(sub, batch, cursor)
                if moved is None:
                    return
                cursor = moved
                if len(batch) < page:
                    break
            # 2. Room for the held frames and a short tail, then the tail under the lock
            #    (no event is between append and route while it is held) and go live.
            held = sub.held
            if held is None:
                return
            headroom = _headroom(sink)
            await sink.wait_room(len(held) + _TAIL_SLACK + headroom)
            held = sub.held
            if held is None:
                return
            if not self._drain_held(sub, held, cursor, headroom):
                return
            async with self.lock:
                tail: list[Event] = []
                while True:
                    batch = await event_log.read_since(cursor, page)
                    tail.extend(batch)
                    if len(batch) < page:
                        break
                if self._try_go_live(sub, tail, cursor):
                    return
            # The tail did not fit: catch up again, waiting for the reader.

    async def _replay(self, sub: Subscription, batch: list[Event], cursor: int) -> int | None:
        """Offer the matching events of ``batch``, waiting for room as needed.

        Returns the new cursor, or None if the subscription is gone.
        """
        sink = sub.sink
        wanted = sub.names
        everything = sub.wildcard
        rename = sub.delivery_name
        headroom = _headroom(sink)
        replayed = 0
        for event in batch:
            seq = event.seq
            if seq is None or seq <= cursor:
                continue
            if everything or event.name in wanted:
                frame = encode(event, name=None if rename is None else rename(event.name))
                if sink.room() <= headroom:  # keep room for live events; refill at half
                    await sink.wait_room(max(headroom + 1, sink.capacity // 2))
                if not sub.active or not sink.offer(frame):
                    self._count_replayed(replayed)
                    self.drop(sub)
                    return None
                replayed += 1
            cursor = seq
        self._count_replayed(replayed)
        held = sub.held
        if held and not self._drain_held(sub, held, cursor, headroom):
            return None
        return cursor

    def _drain_held(
        self, sub: Subscription, held: list[tuple[int | None, bytes]], cursor: int, headroom: int
    ) -> bool:
        """Deliver the held frames that may go now, forget those replayed already.

        Held frames without a seq (live, not persisted) are delivered in arrival order
        until the first held frame that is ahead of the replay (``seq > cursor``).
        False if the sink refused (the subscription is dropped).
        """
        sink = sub.sink
        stop = len(held)
        delivered = 0
        for position, (seq, frame) in enumerate(held):
            if seq is None:
                if sink.room() <= headroom:
                    stop = position
                    break
                if not sink.offer(frame):
                    self.stats.delivered += delivered
                    self.drop(sub)
                    return False
                delivered += 1
            elif seq > cursor:
                stop = position
                break
        self.stats.delivered += delivered
        sub.held = [item for item in held[stop:] if item[0] is None or item[0] > cursor]
        return True

    def _try_go_live(self, sub: Subscription, tail: list[Event], cursor: int) -> bool:
        """Deliver ``tail`` and the held frames and go live, if they fit without waiting.

        True when done (live, or the subscription is gone); False to retry.
        """
        held = sub.held
        if held is None or not sub.active:
            self.drop(sub)
            return True
        sink = sub.sink
        wanted = sub.names
        everything = sub.wildcard
        rename = sub.delivery_name
        frames: list[bytes] = []
        for event in tail:
            seq = event.seq
            if seq is not None and seq > cursor:
                cursor = seq
                if everything or event.name in wanted:
                    name = None if rename is None else rename(event.name)
                    frames.append(encode(event, name=name))
        replayed = len(frames)
        frames.extend(frame for seq, frame in held if seq is None or seq > cursor)
        if len(frames) + _headroom(sink) > sink.room():
            return False  # wait for the reader again (or for the hold limit to drop it)
        sub.held = None
        offer = sink.offer
        for frame in frames:
            offer(frame)
        self._count_replayed(replayed)
        self.stats.delivered += len(frames) - replayed
        return True

    def _count_replayed(self, count: int) -> None:
        self.stats.replayed += count
        self.stats.delivered += count

    def _resync(self, sub: Subscription, since: int, oldest: int, last: int) -> None:
        self.remove(sub)
        self.stats.resyncs += 1
        notice = Event.new(RESYNC_REQUIRED, data={"since": since, "oldest": oldest})
        sub.sink.offer(encode(notice))
        if since > last:
            reason = f"resync required: since={since} is ahead of the stream (last seq {last})"
        else:
            reason = f"resync required: events after seq {since} were purged (oldest {oldest})"
        sub.sink.close(CLOSE_RESYNC_REQUIRED, reason)
        log.info("%s: %s", sub.label or sub.sink, reason)
