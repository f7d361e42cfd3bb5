"""The client's errors. Each one's ``str()`` is one line a person can act on.

::

    CorralError                     (corral.errors)
     ├── ApiError                   (corral.errors) the server's error JSON
     │    └── client.ApiError       … as the client received it: status, code, message,
     │                              field_name, plus the URL, so it can say what to do
     └── ClientError                trouble on the client's side of the wire
          ├── ConfigError           no URL / no key / an unreadable config file / a bad URL
          ├── ConnectionFailed      the server cannot be reached (down, wrong host or port)
          ├── WaitTimeout           a resource still transitioning when the wait ran out
          └── TransitioningError    a resource shows transitioning=error (when asked to raise)
"""

from __future__ import annotations

import re
from typing import Any

from corral import errors

__all__ = ["URL_HINT", "ApiError", "ClientError", "ConfigError", "ConnectionFailed",
           "TransitioningError", "WaitTimeout"]

URL_HINT = "check --url / CATTLE_URL (e.g. http://localhost:8080)"
KEY_HINT = ("check --access-key/--secret-key or CATTLE_ACCESS_KEY/CATTLE_SECRET_KEY, "
            "or run `corral login`")


class ApiError(errors.ApiError):
    """An error answer of the server: ``status``, ``code``, ``message``, ``field_name``.

    ``url`` is the request's URL; ``wrong_url`` is set when a 404 means that the client's
    base URL is wrong rather than that one resource is missing.
    """

    def __init__(self, status: int, code: str, message: str, field_name: str | None = None,
                 *, detail: str | None = None, url: str | None = None,
                 wrong_url: bool = False) -> None:
        super().__init__(message, status=status, code=code, field_name=field_name,
                         detail=detail)
        self.url = url
        self.wrong_url = wrong_url

    def __str__(self) -> str:
        if self.status == 401:
            return f"bad access/secret key: the server refused it (401 Unauthorized); {KEY_HINT}"
        if self.wrong_url:
            return f"no corral API at {self.url} ({self.status} {self.code}); {URL_HINT}"
        if self.status == 403:
            return f"not allowed: {self.message} (403 Forbidden); use a key that may do this"
        if self.status == 404 and self.message.startswith("no such path"):
            return f"{self.message} (404 NotFound): this key may not see it, or the URL is wrong"
        where = f", field {self.field_name}" if self.field_name else ""
        return f"{self.message} ({self.status} {self.code}{where})"

    @classmethod
    def from_body(cls, status: int, body: Any, *, url: str | None = None,
                  wrong_url: bool = False) -> ApiError:
        """From the error JSON (``{"type":"error",…}``); anything else gives a generic one."""
        if isinstance(body, dict) and body.get("type") == "error":
            return cls(status, str(body.get("code") or "ServerError"),
                       str(body.get("message") or ""), body.get("fieldName"),
                       detail=body.get("detail"), url=url, wrong_url=wrong_url)
        return cls(status, f"HTTP{status}", f"HTTP {status}", url=url, wrong_url=wrong_url)


class ClientError(errors.CorralError):
    """Base of the errors that happen on the client's side of the wire."""


class ConfigError(ClientError):
    """The client is not configured well enough to talk to a server."""


class ConnectionFailed(ClientError):
    """The server cannot be reached: it is down, or the URL names the wrong host or port."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"cannot reach the corral server at {server} ({reason}): is the "
                         f"server running at {server}? {URL_HINT}")


class WaitTimeout(ClientError):
    """The resource was still transitioning when the wait ran out."""

    def __init__(self, message: str, resource: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.resource = resource


class TransitioningError(ClientError):
    """The resource shows ``transitioning: "error"``; the message says why."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.resource = resource
        what = f"{resource.get('type', 'resource')} {resource.get('id', '?')}"
        message = resource.get("transitioningMessage") or "no message"
        super().__init__(f"{what} failed while {resource.get('state')}: {message}")


_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")


def describe_transport_error(exc: BaseException) -> str:
    """A short reason for a transport error: 'connection refused', 'timed out', …"""
    text = _ERRNO.sub("", str(exc).strip()) or exc.__class__.__name__
    lowered = text.lower()
    if "refused" in lowered or "all connection attempts failed" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or \
            "name resolution" in lowered:
        return "unknown host name"
    return text[:200]
