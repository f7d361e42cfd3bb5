"""Running one handler on one event, and turning its outcome into the call's answer.

A handler is ``fn(event)``: a coroutine function runs on the loop, a plain function in
the subscriber's thread pool. For a call (``replyTo`` set) that the handler did not
answer itself with a final reply:

* it returned a dict or None: that is the reply's ``data`` (success);
* it raised: an error reply with the exception's message (and a short traceback as the
  internal message);
* it returned anything else: an error reply, since the wire carries objects only.

Events without ``replyTo`` are never answered; their handlers' errors are logged.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import traceback
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from corral.subscriber.event import ReceivedEvent

__all__ = ["Handler", "Stats", "invoke", "is_async"]

log = logging.getLogger(__name__)

Handler = Callable[[ReceivedEvent], Any]


@dataclass(slots=True)
class Stats:
    received: int = 0  # events given to a handler's queue
    handled: int = 0  # handlers that returned
    failed: int = 0  # handlers that raised
    duplicates: int = 0  # seqs received a second time (after a resume) and skipped
    resyncs: int = 0


def is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))  # noqa: B004 - a callable object's async __call__


async def call_handler(fn: Callable[[ReceivedEvent], Any], fn_is_async: bool,
                       event: ReceivedEvent, executor: Executor | None) -> Any:
    """``fn(event)`` on the loop or in ``executor``; an awaitable result is awaited."""
    if fn_is_async:
        result = await fn(event)
    else:
        result = await asyncio.get_running_loop().run_in_executor(executor, fn, event)
    if inspect.isawaitable(result):
        result = await result
    return result


async def invoke(fn: Handler, fn_is_async: bool, event: ReceivedEvent,
                 executor: Executor | None, stats: Stats) -> None:
    """Run the handler; answer the call if it did not. Never raises an Exception."""
    try:
        result = await call_handler(fn, fn_is_async, event, executor)
    except Exception as exc:
        stats.failed += 1
        log.exception("handler for %s failed on %s", event.name, event)
        if event.is_call and not event.replied:
            await _safely(event.error(str(exc) or type(exc).__name__,
                                      internal_message=_short_traceback(exc)), event)
        return
    stats.handled += 1
    if not event.is_call or event.replied:
        return
    if result is None or isinstance(result, dict):
        await _safely(event.reply(result), event)
    else:
        log.error("handler for %s returned %s, not a dict: answering with an error",
                  event.name, type(result).__name__)
        await _safely(event.error(f"handler returned {type(result).__name__}, not an object"),
                      event)


async def _safely(answer: Any, event: ReceivedEvent) -> None:
    try:
        await answer
    except Exception:
        log.exception("cannot answer %s", event)


def _short_traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc, limit=-5))[-4000:]
