"""``resource.change`` (§9): published after each state change, coalesced per resource.

At most one event per resource per ``interval`` (1 s): the first change goes out at
once, later ones within the interval are folded into one event carrying the latest
row, sent when the interval is over. Each event is rendered once per *visibility
group*: raw subscribers (admin) get ``resource.change`` with the admin view; the
resource's project gets ``resource.change;account=<projectId>`` with the project view;
nobody else gets anything. The events are persisted (they carry a ``seq``) so a
subscriber can resume with ``since``.

The event is published after the database transaction commits; a crash between the two
loses that notification (not the change itself).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from corral.api.context import Context, Principal
from corral.api.resource import ResourceType, TableType
from corral.bus import EventBus
from corral.protocol.event import Event
from corral.protocol.ids import format_id
from corral.resources.processed import ProcessType, forget_default_project
from corral.store import tables

log = logging.getLogger(__name__)

RESOURCE_CHANGE = "resource.change"


def visibility_group(rtype: ResourceType, row: Any) -> int | None:
    """The project whose keys may see ``row`` (None: admins only)."""
    if not isinstance(rtype, TableType) or rtype.admin_only:
        return None
    m = row._mapping
    if rtype.scoped:
        return m.get("account_id")
    if rtype.name == "project":
        return m["id"]
    return None


_ADMIN = Principal(credential_id=0, account_id=0, account_kind="admin", project_id=None)
_SAME_VIEW: dict[type, bool] = {}


def _same_view_for_all(rtype: TableType) -> bool:
    """Whether the project's view of a row is the admin's (rendered once for both).

    So for types using the generic rendering whose valid actions do not depend on who
    asks: a process-backed type, or one without admin-only actions. (Both views are
    rendered with the same root URL and neither comes through a project URL.)
    """
    cls = type(rtype)
    same = _SAME_VIEW.get(cls)
    if same is None:
        generic = cls.render is TableType.render and \
            cls.resource_url is TableType.resource_url and \
            cls.collection_url is TableType.collection_url
        actions_free = cls.valid_actions is ProcessType.valid_actions or (
            cls.valid_actions is TableType.valid_actions
            and not any(a.admin_only for a in rtype.actions.values()))
        same = _SAME_VIEW[cls] = generic and actions_free
    return same


class ChangePublisher:
    def __init__(self, services: Any, bus: EventBus, *, root_url: Callable[[], str],
                 interval: float = 1.0) -> None:
        self.services = services
        self.bus = bus
        self.root_url = root_url
        self.interval = interval
        self._last_sent: dict[tuple[str, int], float] = {}
        self._pending: dict[tuple[str, int], tuple[ResourceType, Any]] = {}
        # Events rendered but not yet written: written together, one transaction per batch.
        self._outbox: list[Event] = []
        self._outbox_written: asyncio.Future[None] | None = None  # done when _outbox is written
        self._flushing: asyncio.Task[None] | None = None

    def _context(self, principal: Principal) -> Context:
        return Context(principal=principal, project_id=principal.project_id,
                       root_url=self.root_url(), services=self.services)

    def events_for(self, rtype: ResourceType, row: Any) -> list[Event]:
        """One ``resource.change`` per visibility group, each rendered for that group."""
        assert isinstance(rtype, TableType)
        wire_id = format_id(rtype.id_type, row._mapping["id"])
        admin_view = rtype.render(self._context(_ADMIN), row)
        out = [Event.new(RESOURCE_CHANGE, resource_type=rtype.name, resource_id=wire_id,
                         data={"resource": admin_view})]
        group = visibility_group(rtype, row)
        if group is not None:
            if _same_view_for_all(rtype):
                view = admin_view  # events are immutable once published: shared, not copied
            else:
                member = Principal(credential_id=0, account_id=group, account_kind="project",
                                   project_id=group)
                view = rtype.render(self._context(member), row)
            out.append(Event.new(f"{RESOURCE_CHANGE};account={group}", resource_type=rtype.name,
                                 resource_id=wire_id, data={"resource": view}))
        return out

    async def on_change(self, rtype: ResourceType, row: Any) -> None:
        if not isinstance(rtype, TableType):
            return
        if rtype.table is tables.account:  # a project may have changed: look it up again
            forget_default_project()
        key = (rtype.name, int(row._mapping["id"]))
        if key in self._pending:  # a send is scheduled: it will carry this newest row
            self._pending[key] = (rtype, row)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        last = self._last_sent.get(key)
        if last is None or now - last >= self.interval:
            self._last_sent[key] = now
            written = self._publish(rtype, row)
            self._prune(now)
            if written is not None:
                # group commit: the change's event is in the stream when the caller goes on
                # (an API answer is sent after it), written together with concurrent ones
                await asyncio.shield(written)
            return
        self._pending[key] = (rtype, row)
        loop.call_later(last + self.interval - now, self._flush, key)

    def _flush(self, key: tuple[str, int]) -> None:
        item = self._pending.pop(key, None)
        if item is None:
            return
        self._last_sent[key] = asyncio.get_running_loop().time()
        self._publish(*item)

    def _publish(self, rtype: ResourceType, row: Any) -> asyncio.Future[None] | None:
        """Queue the events of one change; a single task writes every queued event at once.

        Returns a future that is done once the batch holding these events is written.
        """
        try:
            events = self.events_for(rtype, row)
        except Exception:
            log.exception("could not render resource.change for %s %s", rtype.name,
                          row._mapping["id"])
            return None
        loop = asyncio.get_running_loop()
        if self._outbox_written is None:
            self._outbox_written = loop.create_future()
        self._outbox.extend(events)
        written = self._outbox_written
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush_outbox())
        return written

    async def _flush_outbox(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            written, self._outbox_written = self._outbox_written, None
            try:
                await self.bus.publish_persistent_many(batch)
            except Exception:
                log.exception("could not publish %d resource.change events", len(batch))
            finally:
                if written is not None and not written.done():
                    written.set_result(None)

    def _prune(self, now: float) -> None:
        if len(self._last_sent) > 10_000:
            horizon = now - self.interval
            self._last_sent = {k: t for k, t in self._last_sent.items() if t >= horizon}

    async def flush_all(self) -> None:
        """Send every pending change now (at shutdown)."""
        for key in list(self._pending):
            self._flush(key)
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
