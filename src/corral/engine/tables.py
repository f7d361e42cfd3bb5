"""The process tables: every process corral runs, written as plain data.

Nothing here executes; :mod:`corral.engine.definitions` turns these rows into
:class:`~corral.engine.definitions.ProcessDefinition` objects and checks them.

Facts come from Cattle (rancher/cattle): the default processes of a type, the
instance renames, the agent reconnect family (states ``reconnecting``,
``reconnected``, ``finishing-reconnect``, ``disconnecting``, ``disconnected``),
host provision/error and the stack and service processes. Where Cattle changed
over its versions, the choice made here is noted next to the row.

A row names its process by *suffix* (``"start"`` in ``instance.start``); the
process name is ``<resourceType lowercased>.<suffix>``, as in Cattle
(``containerevent.create``). States in a row are comma separated.

Overall timeouts (**corral:** Cattle retried forever) default to 0, meaning no
overall timeout, except for processes that wait on an agent: the agent may be
gone for good, and the seed asks that such work stops being retried at some
point. Those defaults:

* ``instance.start`` / ``instance.stop`` / ``instance.restart``: 600 s
* ``instance.remove`` / ``instance.purge``: 3600 s
* ``volume.activate`` / ``volume.deactivate``: 600 s; ``volume.remove``: 3600 s
* ``host.provision``: 1800 s
* ``agent.reconnect``: 0, on purpose: the reconnect handler chains to
  ``agent.disconnect`` itself when the agent stays away (as Cattle did).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Overall timeouts, in seconds, used below.
AGENT_CALL_TIMEOUT = 600
AGENT_REMOVE_TIMEOUT = 3600
PROVISION_TIMEOUT = 1800


@dataclass(frozen=True, slots=True)
class Row:
    """One process of a type, before renames.

    ``per_start`` holds ``(start state, transitioning state, done state)``
    triples for start states that do not use the row's main transitioning and
    done states (``update`` returns to the state it started from).
    """

    suffix: str
    start: str
    transitioning: str
    done: str
    delegate: str | None = None
    command: str | None = None
    error: str | None = None
    timeout: int = 0
    internal: bool = False
    per_start: tuple[tuple[str, str, str], ...] = ()


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TypeTable:
    """How one resource type departs from the default processes.

    Order of application: defaults (unless ``defaults`` is false, or the
    suffix is in ``exclude``) → ``renames`` of states → ``process_renames``
    of suffixes → ``extra_start`` states → ``rows`` (added, or replacing a
    default of the same suffix) → ``commands``, ``errors``, ``timeouts``,
    ``delegates`` overrides. ``extra_start`` and the overrides use the final
    (renamed) vocabulary.
    """

    defaults: bool = True
    exclude: frozenset[str] = frozenset()
    renames: Mapping[str, str] = field(default_factory=_empty)
    process_renames: Mapping[str, str] = field(default_factory=_empty)
    extra_start: Mapping[str, str] = field(default_factory=_empty)
    rows: tuple[Row, ...] = ()
    commands: Mapping[str, str] = field(default_factory=_empty)
    errors: Mapping[str, str] = field(default_factory=_empty)
    timeouts: Mapping[str, int] = field(default_factory=_empty)
    delegates: Mapping[str, str | None] = field(default_factory=_empty)


# The default processes of a type x (spec §4). ``create`` is run by POST on the
# collection, so it is internal (never offered as an action).
DEFAULT_ROWS: tuple[Row, ...] = (
    Row("create", "requested", "registering", "inactive", delegate="activate", internal=True),
    Row("activate", "inactive,registering", "activating", "active"),
    Row(
        "deactivate",
        "requested,registering,active,activating,updating-active,updating-inactive",
        "deactivating",
        "inactive",
    ),
    Row(
        "update",
        "inactive,active",
        "updating-active",
        "active",
        per_start=(("inactive", "updating-inactive", "inactive"),),
    ),
    Row(
        "remove",
        "requested,inactive,registering,updating-active,updating-inactive",
        "removing",
        "removed",
    ),
    Row("purge", "removed", "purging", "purged"),
)

INSTANCE_RENAMES: Mapping[str, str] = MappingProxyType(
    {
        "registering": "creating",
        "inactive": "stopped",
        "activating": "starting",
        "active": "running",
        "deactivating": "stopping",
        "updating-active": "updating-running",
        "updating-inactive": "updating-stopped",
    }
)

_INSTANCE = TypeTable(
    renames=INSTANCE_RENAMES,
    process_renames=MappingProxyType({"activate": "start", "deactivate": "stop"}),
    extra_start=MappingProxyType({"remove": "erroring,error"}),
    rows=(
        # The restart handler sends compute.instance.deactivate then
        # compute.instance.activate; there is no single agent command for it.
        Row(
            "restart", "running", "restarting", "running", error="error", timeout=AGENT_CALL_TIMEOUT
        ),
        Row("error", "creating,stopped", "erroring", "error", internal=True),
    ),
    commands=MappingProxyType(
        {
            "start": "compute.instance.activate",
            "stop": "compute.instance.deactivate",
            "remove": "compute.instance.remove",
            "purge": "compute.instance.remove",
        }
    ),
    errors=MappingProxyType({"create": "error", "start": "error", "stop": "error"}),
    timeouts=MappingProxyType(
        {
            "start": AGENT_CALL_TIMEOUT,
            "stop": AGENT_CALL_TIMEOUT,
            "remove": AGENT_REMOVE_TIMEOUT,
            "purge": AGENT_REMOVE_TIMEOUT,
        }
    ),
)

_AGENT = TypeTable(
    # Cattle 1.x: an agent that misses pings goes to reconnecting; when it
    # answers again the reconnect chains to finishreconnect (→ active); when it
    # stays away the handler chains to disconnect (→ disconnected), from where a
    # later reconnect can start again.
    extra_start=MappingProxyType(
        {
            "deactivate": "reconnecting,reconnected,finishing-reconnect,disconnecting,disconnected",
            "remove": "disconnected",
        }
    ),
    rows=(
        Row(
            "reconnect",
            "active,activating,reconnected,disconnected",
            "reconnecting",
            "reconnected",
            delegate="finishreconnect",
        ),
        Row(
            "finishreconnect",
            "reconnecting,reconnected",
            "finishing-reconnect",
            "active",
            internal=True,
        ),
        Row(
            "disconnect",
            "active,reconnecting,reconnected,finishing-reconnect",
            "disconnecting",
            "disconnected",
            internal=True,
        ),
    ),
)

_HOST = TypeTable(
    extra_start=MappingProxyType({"remove": "provisioning,erroring,error"}),
    rows=(
        Row(
            "provision",
            "inactive",
            "provisioning",
            "active",
            error="error",
            timeout=PROVISION_TIMEOUT,
            internal=True,
        ),
        Row(
            "error",
            "registering,activating,provisioning,updating-active,updating-inactive",
            "erroring",
            "error",
            internal=True,
        ),
    ),
    errors=MappingProxyType({"create": "error", "activate": "error", "update": "error"}),
)

_VOLUME = TypeTable(
    commands=MappingProxyType(
        {
            "activate": "storage.volume.activate",
            "deactivate": "storage.volume.deactivate",
            "remove": "storage.volume.remove",
        }
    ),
    timeouts=MappingProxyType(
        {
            "activate": AGENT_CALL_TIMEOUT,
            "deactivate": AGENT_CALL_TIMEOUT,
            "remove": AGENT_REMOVE_TIMEOUT,
        }
    ),
)

_STACK = TypeTable(
    # Spec §4: create goes requested → activating → active (no registering,
    # no delegate); no activate/deactivate processes on a stack.
    defaults=False,
    rows=(
        Row("create", "requested", "activating", "active", error="error", internal=True),
        Row("update", "active,error", "updating-active", "active", error="error"),
        Row(
            "remove",
            "requested,activating,active,updating-active,erroring,error",
            "removing",
            "removed",
        ),
        Row("purge", "removed", "purging", "purged"),
        Row("error", "activating,updating-active", "erroring", "error", internal=True),
    ),
)

_SERVICE = TypeTable(
    # Cattle creates services inactive; the service handler chains to
    # service.activate when the service says startOnCreate. Cattle also lets a
    # running service be removed (its instances are removed with it).
    extra_start=MappingProxyType(
        {"deactivate": "restarting", "remove": "active,activating,deactivating,restarting"}
    ),
    rows=(Row("restart", "active", "restarting", "active"),),
    delegates=MappingProxyType({"create": None}),
)

# Every resource type that has processes, in a stable order.
TYPES: Mapping[str, TypeTable] = MappingProxyType(
    {
        "project": TypeTable(),
        "credential": TypeTable(),
        "agent": _AGENT,
        "host": _HOST,
        "instance": _INSTANCE,
        "volume": _VOLUME,
        "stack": _STACK,
        "service": _SERVICE,
        "containerEvent": TypeTable(),
        "serviceEvent": TypeTable(),
    }
)
