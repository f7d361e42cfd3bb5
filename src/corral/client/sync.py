"""``Client``: the blocking REST client (``httpx.Client``), configured once, a context manager.

::

    with Client() as c:                      # CATTLE_* variables or `corral login`'s file
        inst = c.create("instances", name="web", command=["sleep", "60"])
        inst = c.wait_transitioning(inst, timeout=60, raise_on_error=True)
        for host in c.list("hosts", state="active"):
            print(host["id"], host["name"])
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from corral.client.config import ClientConfig, resolve
from corral.client.core import Call, Op, Operations, client_headers, origin
from corral.client.errors import ConnectionFailed, describe_transport_error

__all__ = ["Client"]

T = TypeVar("T")
Resource = dict[str, Any]


class Client:
    """A REST client of one corral API (``…/v1`` or a project's ``…/v1/projects/<id>``).

    ``url`` takes ``http://host:port`` or a URL ending in ``/v1``; missing arguments come from
    ``CATTLE_URL``/``CATTLE_ACCESS_KEY``/``CATTLE_SECRET_KEY``, then from the config file.
    ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    """

    def __init__(self, url: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, *, timeout: float | httpx.Timeout = 10.0,
                 transport: httpx.BaseTransport | None = None,
                 config: ClientConfig | None = None) -> None:
        self.config = config or resolve(url, access_key, secret_key)
        self.base_url = self.config.base_url
        self.server = origin(self.base_url)
        self.timeout = timeout
        self._ops = Operations(self.base_url)
        self._http = httpx.Client(auth=self.config.auth, timeout=timeout, transport=transport,
                                  headers=client_headers())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the driver ------------------------------------------------------------------

    def _send(self, call: Call) -> httpx.Response:
        request = self._http.build_request(call.method, call.url, params=call.params,
                                           json=call.json)
        try:
            return self._http.send(request)
        except httpx.TimeoutException:
            raise ConnectionFailed(self.server, "no answer in time") from None
        except httpx.TransportError as e:
            raise ConnectionFailed(self.server, describe_transport_error(e)) from None

    def _run(self, op: Op[T]) -> T:
        try:
            step = next(op)
            while True:
                if isinstance(step, Call):
                    step = op.send(self._send(step))
                else:
                    time.sleep(step)
                    step = op.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # -- the API ---------------------------------------------------------------------

    def root(self) -> Resource:
        """``GET /v1``: the API root (a good check that URL and key work)."""
        return self._run(self._ops.root())

    def list(self, collection: str, *, max_items: int | None = None,
             **filters: Any) -> list[Resource]:
        """All items (every page) of ``collection`` matching ``filters`` (``name_prefix=…``)."""
        return self._run(self._ops.list(collection, filters, max_items))

    def get(self, collection: str, resource_id: str) -> Resource:
        return self._run(self._ops.get(collection, resource_id))

    def create(self, collection: str, **fields: Any) -> Resource:
        return self._run(self._ops.create(collection, fields))

    def update(self, collection: str, resource_id: str, **fields: Any) -> Resource:
        return self._run(self._ops.update(collection, resource_id, fields))

    def delete(self, collection: str, resource_id: str) -> Resource:
        return self._run(self._ops.delete(collection, resource_id))

    def action(self, collection: str, resource_id: str, name: str, **input: Any) -> Resource:
        return self._run(self._ops.action(collection, resource_id, name, input))

    def fetch(self, url: str) -> Any:
        """``GET`` an absolute URL (a link such as ``links.self``) and return its JSON."""
        return self._run(self._ops.fetch(url))

    def reload(self, resource: Resource) -> Resource:
        return self._run(self._ops.reload(resource))

    def wait_transitioning(self, resource: Resource, timeout: float = 60.0, *,
                           raise_on_error: bool = False, interval: float = 0.2,
                           on_update: Callable[[Resource], None] | None = None) -> Resource:
        """Poll until ``transitioning != "yes"`` (see :meth:`Operations.wait_transitioning`)."""
        return self._run(self._ops.wait_transitioning(
            resource, timeout, raise_on_error=raise_on_error, interval=interval,
            on_update=on_update))

    def settings(self) -> dict[str, str]:
        return self._run(self._ops.settings())

    def get_setting(self, name: str) -> str:
        return self._run(self._ops.get_setting(name))

    def set_setting(self, name: str, value: Any) -> Resource:
        return self._run(self._ops.set_setting(name, value))
