"""``AsyncClient``: the asyncio REST client (``httpx.AsyncClient``), used as ``async with``.

::

    async with AsyncClient() as c:
        inst = await c.create("instances", name="web", command=["sleep", "60"])
        inst = await c.wait_transitioning(inst, timeout=60, raise_on_error=True)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from corral.client.config import ClientConfig, resolve
from corral.client.core import Call, Op, Operations, client_headers, origin
from corral.client.errors import ConnectionFailed, describe_transport_error

__all__ = ["AsyncClient"]

T = TypeVar("T")
Resource = dict[str, Any]


class AsyncClient:
    """The asyncio twin of :class:`corral.client.Client`: same arguments, same methods."""

    def __init__(self, url: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, *, timeout: float | httpx.Timeout = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 config: ClientConfig | None = None) -> None:
        self.config = config or resolve(url, access_key, secret_key)
        self.base_url = self.config.base_url
        self.server = origin(self.base_url)
        self.timeout = timeout
        self._ops = Operations(self.base_url)
        self._http = httpx.AsyncClient(auth=self.config.auth, timeout=timeout,
                                       transport=transport, headers=client_headers())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the driver ------------------------------------------------------------------

    async def _send(self, call: Call) -> httpx.Response:
        request = self._http.build_request(call.method, call.url, params=call.params,
                                           json=call.json)
        try:
            return await self._http.send(request)
        except httpx.TimeoutException:
            raise ConnectionFailed(self.server, "no answer in time") from None
        except httpx.TransportError as e:
            raise ConnectionFailed(self.server, describe_transport_error(e)) from None

    async def _run(self, op: Op[T]) -> T:
        try:
            step = next(op)
            while True:
                if isinstance(step, Call):
                    step = op.send(await self._send(step))
                else:
                    await asyncio.sleep(step)
                    step = op.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # -- the API ---------------------------------------------------------------------

    async def root(self) -> Resource:
        return await self._run(self._ops.root())

    async def list(self, collection: str, *, max_items: int | None = None,
                   **filters: Any) -> list[Resource]:
        return await self._run(self._ops.list(collection, filters, max_items))

    async def get(self, collection: str, resource_id: str) -> Resource:
        return await self._run(self._ops.get(collection, resource_id))

    async def create(self, collection: str, **fields: Any) -> Resource:
        return await self._run(self._ops.create(collection, fields))

    async def update(self, collection: str, resource_id: str, **fields: Any) -> Resource:
        return await self._run(self._ops.update(collection, resource_id, fields))

    async def delete(self, collection: str, resource_id: str) -> Resource:
        return await self._run(self._ops.delete(collection, resource_id))

    async def action(self, collection: str, resource_id: str, name: str,
                     **input: Any) -> Resource:
        return await self._run(self._ops.action(collection, resource_id, name, input))

    async def fetch(self, url: str) -> Any:
        """``GET`` an absolute URL (a link such as ``links.self``) and return its JSON."""
        return await self._run(self._ops.fetch(url))

    async def reload(self, resource: Resource) -> Resource:
        return await self._run(self._ops.reload(resource))

    async def wait_transitioning(self, resource: Resource, timeout: float = 60.0, *,
                                 raise_on_error: bool = False, interval: float = 0.2,
                                 on_update: Callable[[Resource], None] | None = None
                                 ) -> Resource:
        return await self._run(self._ops.wait_transitioning(
            resource, timeout, raise_on_error=raise_on_error, interval=interval,
            on_update=on_update))

    async def settings(self) -> dict[str, str]:
        return await self._run(self._ops.settings())

    async def get_setting(self, name: str) -> str:
        return await self._run(self._ops.get_setting(name))

    async def set_setting(self, name: str, value: Any) -> Resource:
        return await self._run(self._ops.set_setting(name, value))
