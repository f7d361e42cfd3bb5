"""``Subscriber``: handlers by event name, a worker pool, and the stream that feeds it.

::

    router = Subscriber()                      # CATTLE_URL, CATTLE_ACCESS_KEY, CATTLE_SECRET_KEY

    @router.handler("resource.change")
    async def changed(event: ReceivedEvent) -> None:
        print(event.resource_type, event.resource_id, event.resource)

    router.run_forever()                       # until SIGINT/SIGTERM

The reader hands each event to a bounded :class:`KeyedQueue` (per-resource order, no
drops: a full queue stops the reader); ``workers`` tasks take events from it and run the
handlers (plain functions in a thread pool of the same size). Persisted events carry a
``seq``: the :class:`Cursor` refuses a seq seen before and gives the position to resume
from, in memory and, with ``state_file``, on disk.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any, TypeVar

import aiohttp

from corral.client import AsyncClient
from corral.protocol.event import Event
from corral.subscriber.backoff import Backoff
from corral.subscriber.config import Endpoint
from corral.subscriber.cursor import Cursor, StateFile
from corral.subscriber.dispatch import Handler, Stats, call_handler, invoke, is_async
from corral.subscriber.event import Publisher, ReceivedEvent
from corral.subscriber.health import HealthServer
from corral.subscriber.lanes import KeyedQueue
from corral.subscriber.stream import EventStream

__all__ = ["Handler", "Stats", "Subscriber"]

log = logging.getLogger(__name__)

H = TypeVar("H", bound=Handler)
ResyncCallback = Callable[[ReceivedEvent], Any]


@dataclass(slots=True)
class _Item:
    event: Event
    handler: Handler
    is_async: bool
    cursor: Cursor | None


class Subscriber:
    """An event router: ``@handler(name)``, then ``run()`` / ``run_forever()``.

    ``url``/``access_key``/``secret_key`` default to ``CATTLE_URL``/``CATTLE_ACCESS_KEY``/
    ``CATTLE_SECRET_KEY``. ``workers`` handlers run at once (plain functions in as many
    threads); ``queue_size`` events may wait for a worker before reading stops.
    ``healthcheck_port`` (0: any free port, see ``healthcheck_port`` after start) serves
    ``GET /healthcheck``. ``resume`` reconnects with ``since`` and skips seqs seen before;
    ``state_file`` keeps that position across restarts of this process; ``since`` is the
    position to start from when there is none yet (0: every event the server still has).
    ``agent_id`` subscribes as that agent (``;agent=`` routing, raw keys only).
    ``on_resync(event)`` runs when the server cannot resume from the position (purged or
    ahead of it): after the new live subscription is up and before any of its events is
    handled, so it can re-list what it keeps. ``shutdown_timeout`` bounds how long
    ``stop()`` waits for the events already read.
    """

    def __init__(self, url: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, *, workers: int = 10, queue_size: int = 100,
                 healthcheck_port: int | None = None, healthcheck_host: str = "0.0.0.0",
                 resume: bool = True, state_file: str | PathLike[str] | None = None,
                 since: int | None = None, agent_id: str | None = None,
                 on_resync: ResyncCallback | None = None,
                 backoff: Backoff | None = None, heartbeat: float = 10.0,
                 shutdown_timeout: float = 30.0) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.endpoint = Endpoint.resolve(url, access_key, secret_key)
        self.workers = workers
        self.queue_size = queue_size
        self.healthcheck_port = healthcheck_port
        self.healthcheck_host = healthcheck_host
        self.resume = resume
        self.state = StateFile(state_file) if state_file is not None else None
        if since is not None and since < 0:
            raise ValueError("since must be a seq (0 or more)")
        self.since = since
        self.agent_id = agent_id
        self.on_resync = on_resync
        self.backoff = backoff or Backoff()
        self.heartbeat = heartbeat
        self.shutdown_timeout = shutdown_timeout
        self.stats = Stats()
        self.cursor = Cursor(since)
        self._handlers: dict[str, tuple[Handler, bool]] = {}
        self._queue: KeyedQueue[_Item] = KeyedQueue(queue_size)
        self._stream: EventStream | None = None
        self._gate = asyncio.Event()  # cleared while on_resync runs: workers wait
        self._resync_event: Event | None = None
        self._stop: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publisher: Publisher | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._save_pending = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ registry

    def handler(self, event_name: str) -> Callable[[H], H]:
        """Decorator: ``fn`` handles events named ``event_name`` (``*``: any other)."""
        def register(fn: H) -> H:
            self.add_handler(event_name, fn)
            return fn
        return register

    def add_handler(self, event_name: str, fn: Handler) -> None:
        if event_name in self._handlers:
            raise ValueError(f"a handler for {event_name!r} is registered already")
        if ";" in event_name:
            raise ValueError("register the plain name: qualifiers (;agent=…) are the server's")
        self._handlers[event_name] = (fn, is_async(fn))

    @property
    def event_names(self) -> list[str]:
        return sorted(self._handlers)

    # ------------------------------------------------------------------ status

    @property
    def subscribed(self) -> bool:
        """True while a subscription is live (the healthcheck's 200)."""
        stream = self._stream
        return bool(stream and stream.subscribed and self._stop and not self._stop.is_set())

    @property
    def position(self) -> int | None:
        """The seq to resume after: every event up to it was handled."""
        return self.cursor.position

    def status(self) -> dict[str, Any]:
        stream = self._stream
        return {"subscribed": self.subscribed, "seq": self.cursor.position,
                "queued": len(self._queue), "running": self._queue.running,
                "connections": stream.connections if stream else 0,
                "failures": stream.failures if stream else 0, **asdict(self.stats)}

    # ------------------------------------------------------------------ lifecycle

    def run_forever(self) -> None:
        """Run until SIGINT or SIGTERM, then stop gracefully (blocking)."""
        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop)
            await self.run()

        asyncio.run(main())

    def request_stop(self) -> None:
        """Ask ``run`` to stop (from the loop's thread; ``stop()`` also waits for it)."""
        if self._stop is not None:
            self._stop.set()

    async def stop(self) -> None:
        """Stop reading, finish the events already taken, then return."""
        self.request_stop()
        if self._stopped is not None:
            await self._stopped.wait()

    async def run(self) -> None:
        """Subscribe and handle events until ``stop()``."""
        if not self._handlers:
            raise ValueError("register at least one handler before run()")
        if self._stop is not None and not self._stopped.is_set():  # type: ignore[union-attr]
            raise RuntimeError("this subscriber is running already")
        self._stop, self._stopped = asyncio.Event(), asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._queue = KeyedQueue(self.queue_size)
        self._gate = asyncio.Event()
        self._tasks = set()
        if self.state is not None and self.resume:
            loaded = self.state.load()
            if loaded.position is not None or self.since is None:
                self.cursor = loaded
        self._gate.set()
        health: HealthServer | None = None
        session = aiohttp.ClientSession(headers={"Authorization": self.endpoint.authorization},
                                        timeout=aiohttp.ClientTimeout(total=30))
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="corral-subscriber")
        workers: list[asyncio.Task[None]] = []
        reader: asyncio.Task[None] | None = None
        try:
            api = AsyncClient(str(self.endpoint.api), self.endpoint.access_key,
                              self.endpoint.secret_key, timeout=30.0)
            self._publisher = Publisher(api)
            if self.healthcheck_port is not None:
                health = HealthServer(self.status, host=self.healthcheck_host,
                                      port=self.healthcheck_port)
                self.healthcheck_port = await health.start()
            self._stream = EventStream(
                self.endpoint, session, self.event_names, agent_id=self.agent_id,
                since=self._since, deliver=self._deliver, resync=self._resync,
                subscribed=self._subscribed, backoff=self.backoff, heartbeat=self.heartbeat)
            workers = [asyncio.create_task(self._work(), name=f"subscriber-worker-{i}")
                       for i in range(self.workers)]
            reader = asyncio.create_task(self._stream.run(), name="subscriber-reader")
            stopping = asyncio.create_task(self._stop.wait())
            await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
            await _cancel(stopping)
            self._stop.set()
            await _cancel(reader)  # stop reading; what was read is finished below
            await self._drain()
            if reader.done() and not reader.cancelled() and reader.exception() is not None:
                raise reader.exception()  # type: ignore[misc]
        finally:
            self._stop.set()
            if reader is not None:
                await _cancel(reader)
            for task in [*workers, *self._tasks]:
                task.cancel()
            await asyncio.gather(*workers, *self._tasks, return_exceptions=True)
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._save_now()
            await session.close()
            if self._publisher is not None:
                await self._publisher.client.aclose()
            if health is not None:
                await health.stop()
            self._stopped.set()
            log.info("stopped at seq %s (%s)", self.cursor.position, self.stats)

    async def _drain(self) -> None:
        if self._queue.idle:
            return
        log.info("finishing %d queued and %d running events", len(self._queue),
                 self._queue.running)
        self._gate.set()
        try:
            await asyncio.wait_for(self._queue.join(), self.shutdown_timeout)
        except TimeoutError:
            log.warning("gave up waiting for %d events after %.0f s",
                        len(self._queue) + self._queue.running, self.shutdown_timeout)

    # ------------------------------------------------------------------ reading

    def _since(self) -> int | None:
        return self.cursor.position if self.resume else None

    async def _deliver(self, event: Event) -> None:
        if event.name == "ping" and self.resume and self.cursor.position is None \
                and self.cursor.pending == 0:
            # the server's connect ping tells where its live stream starts: resume from
            # there after a drop even if no event has arrived yet
            last = (event.data or {}).get("lastSeq")
            if isinstance(last, int) and not isinstance(last, bool):
                self.cursor.position = last
        entry = self._handlers.get(event.name)
        if entry is None and event.name != "ping":
            entry = self._handlers.get("*")
        if entry is None:
            return
        seq = event.seq
        cursor = self.cursor if self.resume and seq is not None else None
        if cursor is not None and seq is not None and cursor.seen(seq):
            self.stats.duplicates += 1
            return
        await self._queue.wait_room()  # backpressure: the socket is not read meanwhile
        if cursor is not None and seq is not None:
            cursor.accept(seq)
        key: Hashable = ((event.resource_type, event.resource_id) if event.resource_id
                         else ("", event.id))
        self._queue.put_nowait(key, _Item(event, entry[0], entry[1], cursor))
        self.stats.received += 1

    async def _resync(self, event: Event) -> None:
        """The position is gone (purged or ahead of the server): start again, live."""
        self.stats.resyncs += 1
        self.cursor = Cursor()
        self._save_now()
        if self.on_resync is not None:
            self._resync_event = event
            self._gate.clear()  # hold the workers until the callback has re-listed

    async def _subscribed(self) -> None:
        event, self._resync_event = self._resync_event, None
        if event is not None and self.on_resync is not None:
            task = asyncio.create_task(self._run_resync(self.on_resync, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_resync(self, callback: ResyncCallback, event: Event) -> None:
        try:
            await call_handler(callback, is_async(callback),
                               ReceivedEvent(event, None, self._loop), self._executor)
        except Exception:
            log.exception("on_resync failed")
        finally:
            self._gate.set()

    # ------------------------------------------------------------------ handling

    async def _work(self) -> None:
        queue = self._queue
        while True:
            key, item = await queue.get()
            finished = False
            try:
                await self._gate.wait()  # closed while on_resync re-lists
                event = ReceivedEvent(item.event, self._publisher, self._loop)
                await invoke(item.handler, item.is_async, event, self._executor, self.stats)
                finished = True
            finally:
                queue.done(key)
                # A handler cancelled at shutdown did not finish: the position stays
                # before its event, so the next run gets it again.
                seq = item.event.seq
                if finished and item.cursor is not None and seq is not None \
                        and item.cursor.done(seq):
                    self._save_soon()

    # ------------------------------------------------------------------ state file

    def _save_soon(self) -> None:
        if self.state is None or self._save_pending or self._loop is None:
            return
        self._save_pending = True
        self._loop.call_soon(self._save_now)

    def _save_now(self) -> None:
        self._save_pending = False
        if self.state is not None and self.resume:
            self.state.save(self.cursor)


async def _cancel(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
