"""What the agent does for each event it is sent (§4, §10), on top of a :class:`RuntimeDriver`.

Every handler is idempotent (the driver is): a retried event — a new id for the same work —
is safe. A handler returns the final reply's ``data``; a :class:`HandlerError` (or a driver
error) becomes an ``error`` reply whose message a person can act on.

* ``compute.instance.activate`` → ``driver.start`` → ``{"instance": {"externalId": "<pid>"}}``;
  activating a running instance answers with its current facts, it is not started twice.
* ``compute.instance.deactivate`` → ``driver.stop``; ``compute.instance.remove`` →
  ``driver.remove``.
* ``storage.volume.activate|deactivate|remove`` → ``create_volume`` / nothing /
  ``remove_volume``.
* ``ping`` calls → ``{"resources": [host facts, instances when asked]}``.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import corral
from corral.agent.keys import AgentKeys
from corral.agent.runtime import InstanceSpec, RuntimeDriver
from corral.protocol.event import Event

logger = logging.getLogger(__name__)

INSTANCE_COMMANDS = ("compute.instance.activate", "compute.instance.deactivate",
                     "compute.instance.remove")
VOLUME_COMMANDS = ("storage.volume.activate", "storage.volume.deactivate",
                   "storage.volume.remove")
COMMANDS = (*INSTANCE_COMMANDS, *VOLUME_COMMANDS)
#: Work that may take a while (a stop waits for the process): a progress reply goes first.
SLOW_COMMANDS = frozenset({"compute.instance.deactivate", "compute.instance.remove",
                           "storage.volume.remove"})
DEFAULT_STOP_TIMEOUT = 10.0

Handler = Callable[[Event], Coroutine[Any, Any, dict[str, Any]]]


class HandlerError(Exception):
    """The event cannot be handled; ``str()`` is the message for the error reply."""


def resource_key(event: Event) -> str:
    """What a handler works on, for serialising the handlers of one resource: the instance
    or volume uuid when the event carries it, else its resource type and id."""
    data = event.data or {}
    for kind in ("instance", "volume"):
        item = data.get(kind)
        if isinstance(item, dict) and item.get("uuid"):
            return f"{kind}:{item['uuid']}"
    return f"{event.resource_type}:{event.resource_id or event.id}"


def _item(event: Event, kind: str) -> dict[str, Any]:
    item = (event.data or {}).get(kind)
    if not isinstance(item, dict):
        raise HandlerError(f"{event.name}: the event carries no {kind} (data.{kind})")
    if not item.get("uuid"):
        raise HandlerError(f"{event.name}: the {kind} has no uuid")
    return item


def _stop_timeout(event: Event, instance: dict[str, Any]) -> float:
    data = event.data or {}
    for candidate in ((data.get("processData") or {}).get("timeout"), instance.get("stopTimeout"),
                      (instance.get("labels") or {}).get("io.corral.stop.timeout")):
        try:
            if candidate is not None and float(candidate) >= 0:
                return float(candidate)
        except (TypeError, ValueError):
            continue
    return DEFAULT_STOP_TIMEOUT


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    out[name] = int(parts[0]) * 1024
    except OSError:
        pass
    return out


class EventHandlers:
    def __init__(self, driver: RuntimeDriver, keys: AgentKeys, *, data_dir: Path,
                 hostname: str) -> None:
        self.driver = driver
        self.keys = keys
        self.data_dir = data_dir
        self.hostname = hostname
        self._table: dict[str, Handler] = {
            "compute.instance.activate": self.instance_activate,
            "compute.instance.deactivate": self.instance_deactivate,
            "compute.instance.remove": self.instance_remove,
            "storage.volume.activate": self.volume_activate,
            "storage.volume.deactivate": self.volume_deactivate,
            "storage.volume.remove": self.volume_remove,
            "ping": self.ping,
        }

    def get(self, name: str) -> Handler | None:
        return self._table.get(name)

    # -- instances -------------------------------------------------------------------------

    async def instance_activate(self, event: Event) -> dict[str, Any]:
        instance = _item(event, "instance")
        spec = InstanceSpec.from_dict(instance)
        facts = await self.driver.start(spec)
        logger.info("activate instance=%s uuid=%s pid=%s", event.resource_id, spec.uuid,
                    facts.pid)
        return {"instance": {"externalId": str(facts.pid)}}

    async def instance_deactivate(self, event: Event) -> dict[str, Any]:
        instance = _item(event, "instance")
        facts = await self.driver.stop(str(instance["uuid"]),
                                       timeout=_stop_timeout(event, instance))
        logger.info("deactivate instance=%s uuid=%s state=%s exit_code=%s", event.resource_id,
                    facts.uuid, facts.state, facts.exit_code)
        fields: dict[str, Any] = {}
        if facts.exit_code is not None:
            fields["exitCode"] = facts.exit_code
        return {"instance": fields}

    async def instance_remove(self, event: Event) -> dict[str, Any]:
        instance = _item(event, "instance")
        await self.driver.remove(str(instance["uuid"]), timeout=_stop_timeout(event, instance))
        logger.info("remove instance=%s uuid=%s", event.resource_id, instance["uuid"])
        return {"instance": {}}

    # -- volumes ---------------------------------------------------------------------------

    @staticmethod
    def _volume_name(event: Event) -> str:
        volume = _item(event, "volume")
        return str(volume.get("name") or volume["uuid"])

    async def volume_activate(self, event: Event) -> dict[str, Any]:
        name = self._volume_name(event)
        path = await self.driver.create_volume(name)
        logger.info("volume ready name=%s path=%s", name, path)
        return {"volume": {}}

    async def volume_deactivate(self, event: Event) -> dict[str, Any]:
        self._volume_name(event)  # nothing to do for a directory; the data stays
        return {"volume": {}}

    async def volume_remove(self, event: Event) -> dict[str, Any]:
        name = self._volume_name(event)
        await self.driver.remove_volume(name)
        return {"volume": {}}

    # -- ping (§10) --------------------------------------------------------------------------

    async def ping(self, event: Event) -> dict[str, Any]:
        options = (event.data or {}).get("options") or {}
        resources: list[dict[str, Any]] = [self.host_facts(stats=bool(options.get("stats")))]
        if options.get("instances"):
            for facts in await self.driver.list():
                resources.append({
                    "type": "instance", "uuid": facts.uuid, "state": facts.state,
                    "externalId": None if facts.pid is None else str(facts.pid),
                    "exitCode": facts.exit_code,
                })
        return {"resources": resources, "options": options}

    def host_facts(self, *, stats: bool = False) -> dict[str, Any]:
        mem = _meminfo()
        host: dict[str, Any] = {
            "type": "host", "kind": "local", "hostname": self.hostname, "name": self.hostname,
            "hostId": self.keys.host_id, "agentId": self.keys.agent_id,
            "runtime": "local-process", "agentVersion": corral.__version__,
            "os": platform.system(), "kernelVersion": platform.release(),
            "arch": platform.machine(), "cpuCount": os.cpu_count(),
            "memoryTotal": mem.get("MemTotal"),
        }
        if stats:
            disk = shutil.disk_usage(self.data_dir)
            try:
                load = list(os.getloadavg())
            except OSError:
                load = None
            host["stats"] = {
                "time": int(time.time() * 1000), "loadAvg": load,
                "memoryAvailable": mem.get("MemAvailable"),
                "disk": {"path": str(self.data_dir), "total": disk.total, "used": disk.used,
                         "free": disk.free},
            }
        return host
