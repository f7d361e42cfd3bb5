"""What the client does, written once, without I/O.

Every operation is a generator that yields *steps* — a :class:`Call` to send or a number
of seconds to sleep — and receives the ``httpx.Response`` of each call. :class:`Client`
drives them with ``httpx.Client``, :class:`AsyncClient` with ``httpx.AsyncClient``; the
paging, error mapping and polling logic is the same for both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from corral.client.errors import ApiError, TransitioningError, WaitTimeout

__all__ = ["Call", "Op", "Operations"]

T = TypeVar("T")
Op = Generator["Call | float", "httpx.Response | None", T]
Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to make. ``collection_level``: a 404 means the URL is wrong."""

    method: str
    url: str
    params: dict[str, Any] | None = None
    json: Any = None
    collection_level: bool = False


def parse(call: Call, response: httpx.Response) -> Any:
    """The JSON body of a successful answer; :class:`ApiError` for anything else."""
    status = response.status_code
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = _NOT_JSON
    if status >= 400:
        wrong_url = status == 404 and not _unknown_collection(body) and (
            call.collection_level or not isinstance(body, dict) or not body.get("fieldName"))
        raise ApiError.from_body(status, body, url=str(response.request.url),
                                 wrong_url=wrong_url)
    if body is _NOT_JSON or (body is None and status != 204):
        raise ApiError(status, "InvalidResponse", "the answer is not JSON",
                       url=str(response.request.url), wrong_url=True)
    return body


_NOT_JSON = object()


def _unknown_collection(body: Any) -> bool:
    """corral's own 404 for a path under /v1 it does not serve (or hides from this key)."""
    return isinstance(body, dict) and body.get("type") == "error" and \
        str(body.get("message", "")).startswith("no such path")


class Operations:
    """The operations of the API at ``base_url`` (``…/v1``), as step generators."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    # -- URLs ------------------------------------------------------------------------

    def url(self, collection: str, resource_id: str | None = None) -> str:
        base = f"{self.base_url}/{quote(collection.strip('/'), safe='/')}"
        return base if resource_id is None else f"{base}/{quote(str(resource_id), safe='')}"

    # -- single calls ----------------------------------------------------------------

    def call(self, call: Call) -> Op[Any]:
        response = yield call
        assert response is not None
        return parse(call, response)

    def root(self) -> Op[Resource]:
        return (yield from self.call(Call("GET", self.base_url, collection_level=True)))

    def get(self, collection: str, resource_id: str) -> Op[Resource]:
        return (yield from self.call(Call("GET", self.url(collection, resource_id))))

    def create(self, collection: str, fields: dict[str, Any]) -> Op[Resource]:
        return (yield from self.call(Call("POST", self.url(collection), json=fields,
                                          collection_level=True)))

    def update(self, collection: str, resource_id: str, fields: dict[str, Any]) -> Op[Resource]:
        return (yield from self.call(Call("PUT", self.url(collection, resource_id),
                                          json=fields)))

    def delete(self, collection: str, resource_id: str) -> Op[Resource]:
        return (yield from self.call(Call("DELETE", self.url(collection, resource_id))))

    def action(self, collection: str, resource_id: str, name: str,
               body: dict[str, Any]) -> Op[Resource]:
        return (yield from self.call(Call("POST", self.url(collection, resource_id),
                                          params={"action": name}, json=body)))

    def fetch(self, url: str) -> Op[Any]:
        """``GET`` an absolute URL of this API (a link) and return its JSON."""
        return (yield from self.call(Call("GET", url)))

    def reload(self, resource: Resource) -> Op[Resource]:
        """The resource again, from its ``links.self``."""
        self_url = (resource.get("links") or {}).get("self")
        if not self_url:
            raise ValueError("the resource has no links.self")
        return (yield from self.call(Call("GET", self_url)))

    # -- collections -----------------------------------------------------------------

    def list(self, collection: str, filters: dict[str, Any],
             max_items: int | None = None) -> Op[list[Resource]]:
        """Every item of the collection matching ``filters``, following ``pagination.next``."""
        items: list[Resource] = []
        params: dict[str, Any] | None = {k: _param(v) for k, v in filters.items()
                                         if v is not None}
        url: str | None = self.url(collection)
        seen: set[str] = set()
        while url is not None:
            body = yield from self.call(Call("GET", url, params=params, collection_level=True))
            if not isinstance(body, dict) or body.get("type") != "collection":
                raise ApiError(200, "InvalidResponse", f"{url} is not a collection",
                               url=url, wrong_url=True)
            items.extend(body.get("data") or [])
            if max_items is not None and len(items) >= max_items:
                return items[:max_items]
            seen.add(url if params is None else f"{url}?{params}")
            nxt = (body.get("pagination") or {}).get("next")
            url, params = (nxt, None) if nxt and nxt not in seen else (None, None)
        return items

    # -- settings --------------------------------------------------------------------

    def settings(self) -> Op[dict[str, str]]:
        rows = yield from self.list("settings", {})
        return {str(r["name"]): str(r.get("value") or "") for r in rows}

    def get_setting(self, name: str) -> Op[str]:
        return (yield from self.get("settings", name))["value"]

    def set_setting(self, name: str, value: Any) -> Op[Resource]:
        return (yield from self.update("settings", name, {"value": str(value)}))

    # -- waiting ---------------------------------------------------------------------

    def wait_transitioning(self, resource: Resource, timeout: float, *,
                           raise_on_error: bool = False, interval: float = 0.2,
                           on_update: Callable[[Resource], None] | None = None
                           ) -> Op[Resource]:
        """Poll until ``transitioning`` is not ``yes``; return the resource as it is then.

        ``transitioning: "error"`` ends the wait too (the server keeps retrying); with
        ``raise_on_error`` it raises :class:`TransitioningError`. :class:`WaitTimeout`
        after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        current = resource
        while True:
            if on_update is not None:
                on_update(current)
            state = current.get("transitioning")
            if state == "error" and raise_on_error:
                raise TransitioningError(current)
            if state != "yes":
                return current
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(
                    f"{current.get('type')} {current.get('id')} is still {current.get('state')} "
                    f"after {timeout:g} s", current)
            yield min(interval, left)
            current = yield from self.reload(current)


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_param(v) for v in value]
    return value


def origin(base_url: str) -> str:
    """``http://h:p/v1`` → ``http://h:p``: what a person calls "the server"."""
    u = httpx.URL(base_url)
    return str(u.copy_with(path="/", query=None, fragment=None)).rstrip("/")


def client_headers() -> dict[str, str]:
    from corral import __version__

    return {"Accept": "application/json", "User-Agent": f"corral-client/{__version__}"}
