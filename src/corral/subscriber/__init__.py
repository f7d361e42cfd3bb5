"""corral's subscriber SDK: write a service that reacts to corral's events.

The Python counterpart of Rancher's Go ``event-subscriber``, and more::

    from corral.subscriber import Subscriber

    router = Subscriber(healthcheck_port=10240)   # CATTLE_URL / _ACCESS_KEY / _SECRET_KEY

    @router.handler("resource.change")
    def changed(event):                           # plain functions run in a thread
        print(event.resource_type, event.resource_id, event.resource)

    router.run_forever()

What it does for you:

* handlers by event name, sync or async; calls (events with ``replyTo``) answered with
  ``await event.reply(...)``, ``progress(...)`` and ``error(...)``, or by returning a
  dict; a handler that raises answers a call with an error;
* a worker pool fed by a bounded queue: a full queue stops reading the socket
  (backpressure) instead of dropping; events of one resource are handled one at a time,
  in order;
* reconnect with exponential backoff and jitter, resuming with ``since`` so nothing is
  missed across a reconnect or a server restart, and nothing is handled twice (the last
  position can also be kept in a file across restarts of the subscriber itself);
* ``GET /healthcheck`` on ``healthcheck_port``: 200 while subscribed, 503 otherwise;
* graceful shutdown: stop reading, finish what was read.

Module map: ``router`` (Subscriber), ``dispatch`` (running a handler, answering for it),
``stream`` (the reconnecting reader), ``lanes`` (the per-key bounded queue), ``cursor``
(resume position, dedupe, state file), ``event`` (ReceivedEvent and replies), ``health``,
``backoff``, ``config``.
"""

from __future__ import annotations

from corral.subscriber.backoff import Backoff
from corral.subscriber.config import ConfigError, Endpoint
from corral.subscriber.cursor import Cursor, StateFile
from corral.subscriber.event import AlreadyReplied, ReceivedEvent
from corral.subscriber.lanes import KeyedQueue
from corral.subscriber.router import Stats, Subscriber
from corral.subscriber.stream import SubscribeRefused

EventRouter = Subscriber
"""The name Rancher's Go library used."""

__all__ = [
    "AlreadyReplied",
    "Backoff",
    "ConfigError",
    "Cursor",
    "Endpoint",
    "EventRouter",
    "KeyedQueue",
    "ReceivedEvent",
    "StateFile",
    "Stats",
    "SubscribeRefused",
    "Subscriber",
]
