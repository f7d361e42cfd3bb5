"""Where the bus delivers: one sink per subscriber (per WebSocket).

The bus hands a sink frames that are already encoded (``bytes``) and never waits for
it: ``offer`` either takes the frame at once or says no. A sink that says no is dropped
from the bus. Both sinks here are bounded: one that cannot keep up closes itself with
close code 4008 and throws away what it held, so one slow reader never grows memory
without bound and never slows the publisher or the other readers.

* ``StreamSink`` (the WebSocket's, in ``corral.bus.stream_sink``) writes the frames
  offered in one loop turn to its transport at the end of the turn (one write), and
  keeps a backlog, written out by a task of its own, only while the transport is paused
  (a slow reader): an idle or keeping-up subscriber costs no queue and no task.
* ``QueueSink`` is a bounded queue drained by its owner's task (``async for frame in
  sink``); the owner sees end-of-stream and ``close_code`` / ``close_reason``.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import deque
from typing import Protocol, runtime_checkable

from corral.errors import SlowConsumer

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_NORMAL",
    "CLOSE_RESYNC_REQUIRED",
    "CLOSE_SLOW_CONSUMER",
    "BoundedSink",
    "QueueSink",
    "Sink",
]

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_SLOW_CONSUMER = 4008
CLOSE_RESYNC_REQUIRED = 4010


@runtime_checkable
class Sink(Protocol):
    """What the bus delivers to. Implemented by ``QueueSink`` (and may be by others)."""

    @property
    def closed(self) -> bool:
        """True once the sink takes no more frames."""
        ...

    @property
    def close_code(self) -> int | None:
        """Why it closed (4008: overflowed, a slow consumer); None while open."""
        ...

    def offer(self, frame: bytes) -> bool:
        """Take ``frame`` without blocking; False if closed or full (the bus drops it)."""
        ...

    def close(self, code: int, reason: str, *, discard: bool = False) -> None:
        """Stop taking frames; ``discard`` throws away frames not yet drained."""
        ...

    @property
    def capacity(self) -> int:
        """The most frames it can hold; ``room()`` is never more than this."""
        ...

    def room(self) -> int:
        """How many frames ``offer`` accepts right now without overflowing."""
        ...

    async def wait_room(self, n: int = 1) -> None:
        """Return once ``room() >= min(n, capacity)`` or the sink is closed.

        Used by resume only: live publishing never waits.
        """
        ...


class BoundedSink(abc.ABC):
    """What both sinks share: the bound, the close state, and waiting for room."""

    __slots__ = ("_putter", "close_code", "close_reason", "label", "maxsize")

    def __init__(self, maxsize: int, label: str) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.label = label
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._putter: asyncio.Future[None] | None = None

    @abc.abstractmethod
    def __len__(self) -> int:
        """Frames held, not yet written."""

    def __repr__(self) -> str:
        state = "open" if self.close_code is None else f"closed {self.close_code}"
        return f"<{type(self).__name__} {self.label!r} {len(self)}/{self.maxsize} {state}>"

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def overflowed(self) -> bool:
        return self.close_code == CLOSE_SLOW_CONSUMER

    @property
    def capacity(self) -> int:
        return self.maxsize

    def room(self) -> int:
        if self.close_code is not None:
            return 0
        return self.maxsize - len(self)

    async def wait_room(self, n: int = 1) -> None:
        limit = self.maxsize - max(1, min(n, self.maxsize))  # most frames that may be held
        while self.close_code is None and len(self) > limit:
            fut = asyncio.get_running_loop().create_future()
            self._putter = fut
            try:
                await fut
            finally:
                if self._putter is fut:
                    self._putter = None

    def exception(self) -> SlowConsumer | None:
        """A SlowConsumer error if the sink was closed for overflowing, else None."""
        if self.close_code == CLOSE_SLOW_CONSUMER:
            return SlowConsumer(self.close_reason or "slow consumer")
        return None

    @abc.abstractmethod
    def close(self, code: int = CLOSE_NORMAL, reason: str = "", *, discard: bool = False) -> None:
        """Take no more frames (``discard``: drop the ones held); see ``Sink.close``."""

    def _overflow(self) -> None:
        self.close(CLOSE_SLOW_CONSUMER,
                   f"slow consumer: send queue of {self.maxsize} events overflowed", discard=True)
        log.debug("sink %r overflowed (%d frames)", self.label, self.maxsize)

    def _wake_putter(self) -> None:
        putter = self._putter
        if putter is not None:
            self._putter = None
            if not putter.done():
                putter.set_result(None)


class QueueSink(BoundedSink):
    """A bounded queue of encoded frames, drained by one owner task.

    ``async for frame in sink`` (or ``await sink.get()``, None at the end) yields frames
    until the sink is closed and empty; then ``close_code`` and ``close_reason`` say why.
    """

    __slots__ = ("_frames", "_getter")

    def __init__(self, maxsize: int = 1000, *, label: str = "") -> None:
        super().__init__(maxsize, label)
        self._frames: deque[bytes] = deque()
        self._getter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._frames)

    # ------------------------------------------------------------------ bus side

    def offer(self, frame: bytes) -> bool:
        if self.close_code is not None:
            return False
        frames = self._frames
        if len(frames) >= self.maxsize:
            self._overflow()
            return False
        frames.append(frame)
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)
        return True

    def close(self, code: int = CLOSE_NORMAL, reason: str = "", *, discard: bool = False) -> None:
        if discard:
            self._frames.clear()
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        getter, self._getter = self._getter, None
        if getter is not None and not getter.done():
            getter.set_result(None)
        self._wake_putter()

    # ------------------------------------------------------------------ owner side

    async def get(self) -> bytes | None:
        """The next frame; None once the sink is closed and drained (end of stream)."""
        frames = self._frames
        while not frames:
            if self.close_code is not None:
                return None
            fut = asyncio.get_running_loop().create_future()
            self._getter = fut
            try:
                await fut
            finally:
                if self._getter is fut:
                    self._getter = None
        frame = frames.popleft()
        self._wake_putter()
        return frame

    def get_nowait(self, limit: int | None = None) -> list[bytes]:
        """Every queued frame (at most ``limit``) without waiting; may be empty."""
        frames = self._frames
        if limit is None or limit >= len(frames):
            batch = list(frames)
            frames.clear()
        else:
            batch = [frames.popleft() for _ in range(limit)]
        if batch:
            self._wake_putter()
        return batch

    def __aiter__(self) -> QueueSink:
        return self

    async def __anext__(self) -> bytes:
        frame = await self.get()
        if frame is None:
            raise StopAsyncIteration
        return frame
