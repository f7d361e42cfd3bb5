"""Where the bus delivers: one sink per subscriber (per WebSocket).

The bus hands a sink frames that are already encoded (``bytes``) and never waits for
it: ``offer`` either takes the frame at once or says no. A sink that says no is dropped
from the bus. Both sinks here are bounded: one that cannot keep up closes itself with
close code 4008 and throws away what it held, so one slow reader never grows memory
without bound and never slows the publisher or the other readers.

* ``StreamSink`` (the WebSocket's) writes the frames offered in one loop turn to its
  transport at the end of the turn (one write), and keeps a backlog, written out by a
  task of its own, only while the transport is paused (a slow reader): an idle or
  keeping-up subscriber costs no queue and no task.
* ``QueueSink`` is a bounded queue drained by its owner's task (``async for frame in
  sink``); the owner sees end-of-stream and ``close_code`` / ``close_reason``.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import weakref
from collections import deque
from typing import Any, Protocol, runtime_checkable

from corral.errors import SlowConsumer

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_NORMAL",
    "CLOSE_RESYNC_REQUIRED",
    "CLOSE_SLOW_CONSUMER",
    "QueueSink",
    "Sink",
    "StreamSink",
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


class _Bounded(abc.ABC):
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


class QueueSink(_Bounded):
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


_BATCH = 64  # backlog frames per write (one writev) once the transport drains


class _Flusher:
    """Calls ``_flush`` of each stream sink offered frames this loop turn, in one callback
    early in the next turn. One per event loop."""

    __slots__ = ("__weakref__", "_dirty")

    def __init__(self) -> None:
        self._dirty: list[StreamSink] = []

    def add(self, sink: StreamSink) -> None:
        dirty = self._dirty
        if not dirty:
            asyncio.get_running_loop().call_soon(self._run)
        dirty.append(sink)

    def _run(self) -> None:
        dirty, self._dirty = self._dirty, []
        for sink in dirty:
            try:
                sink._flush()
            except Exception:
                log.exception("sink %r: writing failed", sink.label)
                sink._lost()


_flushers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Flusher] = (
    weakref.WeakKeyDictionary())


def _loop_flusher() -> _Flusher:
    loop = asyncio.get_running_loop()
    flusher = _flushers.get(loop)
    if flusher is None:
        flusher = _flushers[loop] = _Flusher()
    return flusher


class StreamSink(_Bounded):
    """A sink that writes to a transport itself; a backlog and a task only while it is paused.

    The frames offered in one loop turn are written early in the next, in one write (a
    publisher never waits for sends; a burst is one send per socket), if the transport
    takes data (``flow.writing_paused`` is false). Otherwise they go to a backlog that a
    task of the sink writes out in order as the transport drains; once it is empty the
    backlog and the task are dropped. At most ``maxsize`` frames wait (this turn's and the
    backlog): one more overflows the sink (4008, all of it thrown away).

    ``close`` stops taking frames; what waits, unless discarded, is still written, then
    ``_finish`` runs (a hook: the WebSocket sink sends its close frame there). A transport
    found closing closes the sink (1000, "connection lost"). ``flow`` is the connection's
    protocol: ``writing_paused`` and ``await _drain_helper()``, as aiohttp's have them.
    Create the sink in its event loop.
    """

    __slots__ = ("_backlog", "_flow", "_flusher", "_pending", "_pump", "_transport")

    def __init__(self, transport: Any, flow: Any, maxsize: int = 1000, *,
                 label: str = "") -> None:
        super().__init__(maxsize, label)
        self._transport = transport  # an asyncio.WriteTransport
        self._flow = flow
        self._flusher = _loop_flusher()
        self._pending: list[bytes] | None = None  # offered this turn; None while a backlog
        self._backlog: deque[bytes] | None = None  # exists (the pump's)
        self._pump: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        waiting = self._backlog if self._backlog is not None else self._pending
        return len(waiting) if waiting is not None else 0

    @property
    def pump(self) -> asyncio.Task[None] | None:
        """The task writing the backlog (and finishing a close), if one is running."""
        return self._pump

    # Hooks: the bytes written for a frame; whether nothing more may be written; called
    # once when the sink closes; run by the pump once a closed sink's backlog is out.
    @staticmethod
    def _wrap(frame: bytes) -> bytes:
        return frame

    def _gone(self) -> bool:
        return bool(self._transport.is_closing())

    def _closed(self) -> None:
        pass

    async def _finish(self) -> None:
        pass

    # ------------------------------------------------------------------ bus side

    def offer(self, frame: bytes) -> bool:
        if self.close_code is not None:
            return False
        backlog = self._backlog
        if backlog is None:
            pending = self._pending
            if pending is None:
                self._pending = [frame]
                self._flusher.add(self)
                return True
            if len(pending) < self.maxsize:
                pending.append(frame)
                return True
        elif len(backlog) < self.maxsize:
            backlog.append(frame)
            return True
        self._overflow()
        return False

    def close(self, code: int = CLOSE_NORMAL, reason: str = "", *, discard: bool = False) -> None:
        if discard:
            self._pending = None
            if self._backlog:
                self._backlog.clear()
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        self._wake_putter()
        self._closed()

    # ------------------------------------------------------------------ internals

    def _flush(self) -> None:
        """Write this turn's frames (the flusher calls it), or hand them to the pump."""
        pending = self._pending
        if pending is None:
            return  # thrown away, or taken by the pump
        if self._flow.writing_paused:
            self._start_pump()
            return
        self._pending = None
        if self._gone():
            self._lost()
            return
        wrap = self._wrap
        if len(pending) == 1:
            self._transport.write(wrap(pending[0]))
        else:
            self._transport.writelines([wrap(frame) for frame in pending])
        self._wake_putter()

    def _lost(self) -> None:
        self.close(CLOSE_NORMAL, "connection lost", discard=True)

    def _start_pump(self) -> None:
        """The pump takes over this turn's frames as its backlog and writes them in order."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            if self._backlog is None:
                self._backlog = deque(pending)
            else:
                self._backlog.extend(pending)
        if self._pump is None:
            self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await self._write_backlog()
            if self.close_code is not None:
                await self._finish()
        except Exception:
            log.exception("sink %r: writing failed", self.label)
            self._lost()
        finally:
            self._pump = None

    async def _write_backlog(self) -> None:
        transport, flow, wrap = self._transport, self._flow, self._wrap
        while True:
            backlog = self._backlog
            if not backlog:
                self._backlog = None
                self._wake_putter()
                return
            if flow.writing_paused:
                try:
                    await flow._drain_helper()
                except ConnectionError:
                    self._lost()
                continue
            if self._gone():
                self._lost()
                continue
            transport.writelines([wrap(backlog.popleft())
                                  for _ in range(min(len(backlog), _BATCH))])
            self._wake_putter()
