"""The one exception tree of corral.

::

    CorralError
     ├── ProtocolError            malformed event, bad event name, bad id
     ├── ApiError                 carries HTTP status, Cattle error code, field name
     │    ├── NotFound            404 NotFound
     │    ├── Unauthorized        401 Unauthorized
     │    ├── Forbidden           403 Forbidden
     │    └── ValidationError     422 (MissingRequired, InvalidFormat, InvalidOption, …)
     ├── StoreError               database trouble that is not the caller's fault
     ├── BusError
     │    ├── CallTimeout         no final reply within the call's timeout
     │    ├── ErrorReply          the responder answered transitioning=error
     │    └── SlowConsumer        a subscriber's bounded queue overflowed
     └── ProcessError             the engine could not run a process
          ├── ProcessCanceled     the resource left the process's start states
          ├── UnknownProcess      no process definition has that name
          ├── ResourceBusy        another process holds the resource's lock
          ├── ProcessAlreadyInProgress  this process instance runs elsewhere
          └── ProcessDelay        a handler asks to be run again later

Each layer maps these once: the HTTP layer to error JSON, the WebSocket endpoint to
close codes, the engine to exit reasons.
"""

from __future__ import annotations

from typing import Any


class CorralError(Exception):
    """Base of every error corral raises on purpose."""


class ProtocolError(CorralError):
    """An event, event name or id that does not follow the wire protocol."""

    def __init__(self, message: str, *, field_name: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_name = field_name


class ApiError(CorralError):
    """An error that the REST layer answers with Cattle's error JSON."""

    status = 500
    code = "ServerError"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field_name: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.field_name = field_name
        self.detail = detail

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "error",
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        if self.field_name is not None:
            body["fieldName"] = self.field_name
        return body


class NotFound(ApiError):
    status = 404
    code = "NotFound"


class Unauthorized(ApiError):
    status = 401
    code = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "Forbidden"


class ValidationError(ApiError):
    """422 with a specific code naming what is wrong with which field."""

    status = 422
    code = "InvalidFormat"


class StoreError(CorralError):
    """The database failed in a way that is not the caller's fault."""


class BusError(CorralError):
    """Base of event bus errors."""


class CallTimeout(BusError):
    """No final reply arrived within the call's timeout."""


class ErrorReply(BusError):
    """The responder answered a call with transitioning=error."""

    def __init__(self, message: str, *, reply: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.reply = reply


class SlowConsumer(BusError):
    """A subscriber's bounded send queue overflowed."""


class ProcessError(CorralError):
    """The engine could not run a process."""


class ProcessCanceled(ProcessError):
    """The resource is no longer in a state the process can start from."""


class UnknownProcess(ProcessError):
    """No process definition has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown process {name!r}")
        self.name = name


class ResourceBusy(ProcessError):
    """Another process holds the resource's lock; the attempt is retried."""


class ProcessAlreadyInProgress(ProcessError):
    """This process instance is already being run (by this or another server)."""


class ProcessDelay(ProcessError):
    """A handler asks for the process to run again later (exit reason DELAY)."""

    def __init__(self, message: str = "delayed", *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay
