"""The WebSocket's sink: frames written to the transport by the sink itself.

See ``StreamSink``; the bounds and close codes it shares with ``QueueSink`` are in
``corral.bus.sink``.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from typing import Any

from corral.bus.sink import CLOSE_NORMAL, BoundedSink

__all__ = ["StreamSink"]

log = logging.getLogger(__name__)

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


class StreamSink(BoundedSink):
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
