"""Where the server is and which key to use: arguments first, then ``CATTLE_*`` variables.

``CATTLE_URL`` may be the server (``http://host:8080``), its API root
(``http://host:8080/v1``, what the create_agent labels inject) or a project's API root
(``http://host:8080/v1/projects/1a5``); the subscribe and publish endpoints live under
whichever API root it names.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from yarl import URL

__all__ = ["ConfigError", "Endpoint", "basic_header"]


class ConfigError(ValueError):
    """The URL or the key is missing or malformed: nothing to retry."""


def basic_header(access_key: str, secret_key: str) -> str:
    """``Basic base64(access:secret)``, sent explicitly (aiohttp.BasicAuth is deprecated)."""
    token = base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()
    return f"Basic {token}"


def api_root(url: str) -> URL:
    """The API root for ``url``: ``/v1`` (or ``/v1/projects/<id>``) appended if missing."""
    parsed = URL(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"CATTLE_URL must be an http(s) URL, not {url!r}")
    segments = [s for s in parsed.path.split("/") if s]
    if "v1" in segments:
        segments = segments[: segments.index("v1") + 1] + _project_tail(segments)
    else:
        segments.append("v1")
    return parsed.with_path("/" + "/".join(segments)).with_query(None).with_fragment(None)


def _project_tail(segments: list[str]) -> list[str]:
    after = segments[segments.index("v1") + 1:]
    if len(after) >= 2 and after[0] == "projects":
        return after[:2]
    return []


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The server's API root and the key to talk to it with."""

    api: URL
    access_key: str
    secret_key: str

    @classmethod
    def resolve(cls, url: str | None, access_key: str | None, secret_key: str | None, *,
                environ: Mapping[str, str] | None = None) -> Endpoint:
        env = os.environ if environ is None else environ
        url = url or env.get("CATTLE_URL")
        access_key = access_key or env.get("CATTLE_ACCESS_KEY")
        secret_key = secret_key or env.get("CATTLE_SECRET_KEY")
        missing = [name for name, value in (("CATTLE_URL", url), ("CATTLE_ACCESS_KEY",
                   access_key), ("CATTLE_SECRET_KEY", secret_key)) if not value]
        if missing:
            raise ConfigError(f"set {', '.join(missing)} (or pass them to Subscriber)")
        assert url and access_key and secret_key
        return cls(api_root(url), access_key, secret_key)

    @property
    def authorization(self) -> str:
        return basic_header(self.access_key, self.secret_key)

    @property
    def publish_url(self) -> URL:
        return self.api / "publish"

    def subscribe_url(self, event_names: Iterable[str], *, agent_id: str | None = None,
                      since: int | None = None) -> URL:
        """The WebSocket URL (ws/wss) for these names, with ``agentId`` and ``since``."""
        query: list[tuple[str, str]] = [("eventNames", name) for name in event_names]
        if agent_id is not None:
            query.append(("agentId", agent_id))
        if since is not None:
            query.append(("since", str(since)))
        scheme = "wss" if self.api.scheme == "https" else "ws"
        return (self.api / "subscribe").with_scheme(scheme).with_query(query)

    def __repr__(self) -> str:  # never show the secret
        return f"Endpoint(api={str(self.api)!r}, access_key={self.access_key!r})"
