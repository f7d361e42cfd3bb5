"""Request/reply correlation: a call waits for the reply to its own request.

A call publishes its request with ``replyTo = reply.<random>`` and ``timeoutMillis``,
then waits for an event named exactly that ``replyTo`` whose ``previousIds[0]`` is the
request's id. ``transitioning``:

* absent or ``"no"``: final success, returned;
* ``"error"``: final failure, raised as ``ErrorReply``;
* ``"yes"``: progress, not final; given an ``on_progress`` callback the call passes it
  the reply and restarts its timeout (a keep-alive, like a heartbeat).

On timeout with retries left the request is sent again as a new event (new id, new
``replyTo``, same data); a reply to an earlier attempt is then late and ignored. Late,
duplicate and unknown replies never raise: the bus counts them in ``replies_unmatched``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from corral.bus.stats import BusStats
from corral.errors import CallTimeout, ErrorReply
from corral.protocol.event import Event
from corral.protocol.names import new_reply_name

__all__ = ["Correlator", "ProgressCallback", "PublishFn"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[Event], object]
"""Called with each progress reply; may return an awaitable, which is awaited."""

PublishFn = Callable[[Event], Awaitable[object]]


class _Pending:
    __slots__ = ("error", "replies", "request_id", "waiter")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.replies: deque[Event] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.error: BaseException | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _wake_future(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Correlator:
    """The calls waiting for replies, keyed by their ``replyTo`` name."""

    __slots__ = ("_pending", "_stats")

    def __init__(self, stats: BusStats) -> None:
        self._pending: dict[str, _Pending] = {}
        self._stats = stats

    def __len__(self) -> int:
        return len(self._pending)

    def offer(self, reply: Event) -> bool:
        """Hand ``reply`` to the call waiting for it; False if no call is."""
        pending = self._pending.get(reply.name)
        if pending is None:
            return False
        ids = reply.previous_ids
        if not ids or ids[0] != pending.request_id:
            return False
        pending.replies.append(reply)
        pending.wake()
        return True

    def close(self, error: BaseException) -> None:
        """Fail every waiting call with ``error`` (the bus is shutting down)."""
        for pending in self._pending.values():
            pending.error = error
            pending.wake()

    async def call(
        self,
        publish: PublishFn,
        event: Event,
        *,
        timeout: float,
        retries: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> Event:
        """Publish ``event`` as a call through ``publish`` and return its final reply."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must not be negative")
        stats = self._stats
        stats.calls += 1
        loop = asyncio.get_running_loop()
        timeout_millis = max(1, round(timeout * 1000))
        attempts = retries + 1
        for attempt in range(attempts):
            reply_name = new_reply_name()
            while reply_name in self._pending:  # astronomically unlikely
                reply_name = new_reply_name()
            base = event if attempt == 0 else event.renewed()
            request = base.copy(reply_to=reply_name, timeout_millis=timeout_millis, seq=None)
            if attempt:
                stats.call_retries += 1
                log.info(
                    "call %s timed out after %.3fs, retry %d/%d as event %s",
                    event.name,
                    timeout,
                    attempt,
                    retries,
                    request.id,
                )
            pending = _Pending(request.id)
            self._pending[reply_name] = pending
            try:
                await publish(request)
                reply = await self._wait(loop, pending, request, timeout, on_progress)
            finally:
                del self._pending[reply_name]
                if pending.replies:  # duplicates that arrived with the final reply
                    stats.replies_unmatched += len(pending.replies)
            if reply is not None:
                return reply
        stats.call_timeouts += 1
        log.warning(
            "call %s got no reply within %.3fs (%d attempt(s))", event.name, timeout, attempts
        )
        raise CallTimeout(
            f"no reply to {event.name} within {timeout:g}s"
            + (f" after {attempts} attempts" if attempts > 1 else "")
        )

    async def _wait(
        self,
        loop: asyncio.AbstractEventLoop,
        pending: _Pending,
        request: Event,
        timeout: float,
        on_progress: ProgressCallback | None,
    ) -> Event | None:
        """The final reply to ``request``, or None on timeout."""
        stats = self._stats
        replies = pending.replies
        deadline = loop.time() + timeout
        while True:
            if pending.error is not None:
                raise pending.error
            while replies:
                reply = replies.popleft()
                stats.replies_matched += 1
                state = reply.transitioning
                if state == "error":
                    stats.call_errors += 1
                    message = (
                        reply.transitioning_message
                        or reply.transitioning_internal_message
                        or f"{request.name} failed"
                    )
                    raise ErrorReply(message, reply=reply)
                if state == "yes":
                    if on_progress is not None:
                        result = on_progress(reply)
                        if inspect.isawaitable(result):
                            await result
                        deadline = loop.time() + timeout
                    continue
                return reply
            if loop.time() >= deadline:
                return None
            waiter: asyncio.Future[None] = loop.create_future()
            pending.waiter = waiter
            timer = loop.call_at(deadline, _wake_future, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                pending.waiter = None
