"""What a request handler can reach: store, settings, types, auth, bus and change hooks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corral.api.registry import Registry
    from corral.api.resource import ResourceType
    from corral.resources.settings import SettingsService
    from corral.server.auth import Authenticator
    from corral.store import Store

log = logging.getLogger(__name__)

ChangeListener = Callable[["ResourceType", Any], Awaitable[None]]


@dataclass(slots=True)
class Services:
    store: Store
    settings: SettingsService
    registry: Registry
    auth: Authenticator
    server_id: str
    bus: Any = None  # corral.bus.EventBus, set at start-up
    pinger: Any = None  # corral.server.websocket.PingTicker
    engine: Any = None  # corral.engine.pool.ProcessPool
    root_url: Callable[[], str] = lambda: ""  # this server's API URL (…/v1), for agents and keys
    change_listeners: list[ChangeListener] = field(default_factory=list)

    def wake_engine(self) -> None:
        """A process was submitted (and committed): let the pool look now."""
        if self.engine is not None:
            self.engine.wake()

    async def changed(self, rtype: ResourceType, row: Any) -> None:
        """A resource's row changed (created, updated, state): tell whoever listens."""
        for listener in self.change_listeners:
            try:
                await listener(rtype, row)
            except Exception:  # a listener must never undo a committed change
                log.exception("change listener failed for %s %s", rtype.name, row.id)
