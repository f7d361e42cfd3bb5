"""The event bus: subscription index, bounded per-socket sinks, calls, resumable stream.

Callers depend on ``EventBus``; ``Bus`` is the in-process implementation.
"""

from __future__ import annotations

from corral.bus.base import EventBus
from corral.bus.correlator import ProgressCallback
from corral.bus.log import EventLog, MemoryEventLog
from corral.bus.memory import Bus
from corral.bus.resume import RESYNC_REQUIRED
from corral.bus.sink import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_RESYNC_REQUIRED,
    CLOSE_SLOW_CONSUMER,
    QueueSink,
    Sink,
)
from corral.bus.stats import BusStats
from corral.bus.subscription import DeliveryName, Subscription

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_NORMAL",
    "CLOSE_RESYNC_REQUIRED",
    "CLOSE_SLOW_CONSUMER",
    "RESYNC_REQUIRED",
    "Bus",
    "BusStats",
    "DeliveryName",
    "EventBus",
    "EventLog",
    "MemoryEventLog",
    "ProgressCallback",
    "QueueSink",
    "Sink",
    "Subscription",
]
