"""Pure decisions for one attempt of a process.

The pool (the async shell) asks, in order:

1. :func:`decide_start` — with the resource locked and re-read: start the
   process (write the transitioning state), resume it (a replay after a crash:
   the resource is already in this process's transitioning state), or end the
   attempt at once (ALREADY_DONE, CANCELED).
2. the handlers run (agent calls and so on); an exception they raise becomes an
   exit reason through :func:`exit_reason_for`.
3. :func:`decide_success` after the handlers succeeded: the done state to
   write and the process to chain to, or :func:`decide_after_error` after a
   non-final exit: the time of the next attempt (backoff), or — past the
   process's overall timeout — a :class:`Failure` (result FAILURE, the
   resource moves to its error state where one exists).

Chaining: when the next process (the definition's delegate, or one a handler
names) can start from the current transitioning state, the done state is *not*
written: the resource stays transitioning (``creating`` → ``starting`` →
``running``), so clients waiting for ``transitioning: "no"`` (the Python
client's ``wait_success``) do not stop at the intermediate ``stopped``. When it
can only start from the done state, the done state is written first.

Pure: no I/O, no asyncio; time comes in as numbers (epoch seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from corral.engine.backoff import RetryPolicy, overall_deadline_passed
from corral.engine.definitions import REGISTRY, ProcessDefinition, Registry
from corral.errors import (
    CallTimeout,
    CorralError,
    ProcessAlreadyInProgress,
    ProcessCanceled,
    ProcessDelay,
    ProcessError,
    ResourceBusy,
)

__all__ = [
    "DELEGATE",
    "FINAL_EXIT_REASONS",
    "Completion",
    "ExitReason",
    "Failure",
    "Phase",
    "Result",
    "Retry",
    "StartDecision",
    "Verdict",
    "decide_after_error",
    "decide_failure",
    "decide_start",
    "decide_success",
    "exit_reason_for",
    "is_final",
    "result_for",
]


class ExitReason(StrEnum):
    """Why an attempt ended (spec §5); stored as a plain string."""

    DONE = "DONE"
    ALREADY_DONE = "ALREADY_DONE"
    CHAIN = "CHAIN"
    CANCELED = "CANCELED"
    DELAY = "DELAY"
    RESOURCE_BUSY = "RESOURCE_BUSY"
    PROCESS_ALREADY_IN_PROGRESS = "PROCESS_ALREADY_IN_PROGRESS"
    RETRY_EXCEPTION = "RETRY_EXCEPTION"
    UNKNOWN_EXCEPTION = "UNKNOWN_EXCEPTION"
    TIMEOUT = "TIMEOUT"


class Result(StrEnum):
    """``process_instance.result`` of a finished process."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELED = "CANCELED"


class Phase(StrEnum):
    """``process_instance.phase``: how far the process got."""

    REQUESTED = "REQUESTED"  # row written, no attempt has set the transitioning state
    STARTED = "STARTED"  # transitioning state written, handlers running or to be retried
    HANDLER_DONE = "HANDLER_DONE"  # handlers succeeded, done state not yet written
    DONE = "DONE"  # finished (any result); end_time set


class Verdict(StrEnum):
    """What :func:`decide_start` tells the pool to do."""

    START = "START"
    RESUME = "RESUME"
    ALREADY_DONE = "ALREADY_DONE"
    CANCELED = "CANCELED"


FINAL_EXIT_REASONS: Final = frozenset(
    {ExitReason.DONE, ExitReason.ALREADY_DONE, ExitReason.CHAIN, ExitReason.CANCELED}
)
_SUCCESS_EXIT_REASONS: Final = frozenset(
    {ExitReason.DONE, ExitReason.ALREADY_DONE, ExitReason.CHAIN}
)


def is_final(exit_reason: ExitReason | str) -> bool:
    """Final exit reasons end the process; the others mean "retry later"."""
    return ExitReason(exit_reason) in FINAL_EXIT_REASONS


def result_for(exit_reason: ExitReason | str) -> Result | None:
    """The result a final exit reason gives; None for a non-final one.

    FAILURE never comes from an exit reason alone: it is the pool's verdict
    when the overall timeout has passed (:func:`decide_after_error`).
    """
    reason = ExitReason(exit_reason)
    if reason in _SUCCESS_EXIT_REASONS:
        return Result.SUCCESS
    if reason is ExitReason.CANCELED:
        return Result.CANCELED
    return None


def exit_reason_for(exc: BaseException) -> ExitReason:
    """Map an exception raised during an attempt to its exit reason, once."""
    if isinstance(exc, ProcessCanceled):
        return ExitReason.CANCELED
    if isinstance(exc, ResourceBusy):
        return ExitReason.RESOURCE_BUSY
    if isinstance(exc, ProcessAlreadyInProgress):
        return ExitReason.PROCESS_ALREADY_IN_PROGRESS
    if isinstance(exc, ProcessDelay):
        return ExitReason.DELAY
    if isinstance(exc, (CallTimeout, TimeoutError)):
        return ExitReason.TIMEOUT
    if isinstance(exc, CorralError):
        return ExitReason.RETRY_EXCEPTION
    return ExitReason.UNKNOWN_EXCEPTION


# --- start ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartDecision:
    """The outcome of :func:`decide_start`.

    ``transitioning_state``: for START the state to write now, for RESUME the
    state the resource is already in, otherwise None. ``origin_state`` is the
    state read; on START the pool keeps it (in the process data) so that a
    failure without an error state can put the resource back.
    """

    verdict: Verdict
    origin_state: str | None
    transitioning_state: str | None = None

    @property
    def run_handlers(self) -> bool:
        return self.verdict in (Verdict.START, Verdict.RESUME)

    @property
    def state_to_write(self) -> str | None:
        return self.transitioning_state if self.verdict is Verdict.START else None

    @property
    def exit_reason(self) -> ExitReason | None:
        """The attempt's exit reason when it ends here, else None."""
        if self.verdict is Verdict.ALREADY_DONE:
            return ExitReason.ALREADY_DONE
        if self.verdict is Verdict.CANCELED:
            return ExitReason.CANCELED
        return None

    @property
    def phase(self) -> Phase:
        return Phase.STARTED if self.run_handlers else Phase.DONE


def decide_start(definition: ProcessDefinition, current_state: str | None) -> StartDecision:
    """Decide what one attempt does, given the resource's current state.

    A start state wins over everything (``instance.restart`` starts from
    ``running``, which is also its done state); then this process's own
    transitioning state means RESUME; then a done state means ALREADY_DONE;
    anything else (or a resource that is gone: None) means CANCELED.
    """
    if current_state is not None and definition.can_start(current_state):
        return StartDecision(
            Verdict.START, current_state, definition.transitioning_for(current_state)
        )
    if current_state is not None and current_state in definition.transitioning_states:
        return StartDecision(Verdict.RESUME, current_state, current_state)
    if current_state is not None and current_state in definition.done_states:
        return StartDecision(Verdict.ALREADY_DONE, current_state)
    return StartDecision(Verdict.CANCELED, current_state)


# --- success ----------------------------------------------------------------


class _Delegate:
    def __repr__(self) -> str:
        return "DELEGATE"


DELEGATE: Final = _Delegate()
"""Default of ``chain=``: chain to the definition's delegate, if it has one."""


@dataclass(frozen=True, slots=True)
class Completion:
    """Handlers succeeded: what to write and what runs next.

    ``state_to_write`` is None when chaining straight from the transitioning
    state (the chained process writes its own transitioning state).
    """

    exit_reason: ExitReason
    state_to_write: str | None
    chain: str | None = None
    result: Result = Result.SUCCESS
    phase: Phase = Phase.DONE


def decide_success(
    definition: ProcessDefinition,
    transitioning_state: str,
    *,
    chain: str | None | _Delegate = DELEGATE,
    registry: Registry | None = None,
) -> Completion:
    """The outcome after the handlers succeeded from ``transitioning_state``.

    ``chain`` lets a handler override the delegate: a process name to chain
    to (``instance.stop`` → ``instance.remove`` for a DELETE of a running
    instance, ``agent.reconnect`` → ``agent.disconnect``), or None to skip the
    delegate (an instance created with ``startOnCreate: false``). Raises
    :class:`ProcessError` when the chained process belongs to another resource
    type or can start neither from the transitioning nor from the done state.
    """
    done = definition.done_for(transitioning_state)
    target = definition.delegate if isinstance(chain, _Delegate) else chain
    if target is None:
        return Completion(ExitReason.DONE, done)
    child = (registry or REGISTRY).get(target)
    if child.resource_type != definition.resource_type:
        raise ProcessError(f"{definition.name} cannot chain to {child.name}: other resource type")
    if child.can_start(transitioning_state):
        return Completion(ExitReason.CHAIN, None, child.name)
    if child.can_start(done):
        return Completion(ExitReason.CHAIN, done, child.name)
    raise ProcessError(
        f"{definition.name} cannot chain to {child.name}: "
        f"it starts neither from {transitioning_state!r} nor from {done!r}"
    )


# --- errors, retries and the overall timeout --------------------------------


@dataclass(frozen=True, slots=True)
class Retry:
    """A non-final attempt: run again at ``run_after`` (epoch seconds)."""

    exit_reason: ExitReason
    delay: float
    run_after: float
    phase: Phase = Phase.STARTED


@dataclass(frozen=True, slots=True)
class Failure:
    """The process is given up (overall timeout): result FAILURE.

    ``state_to_write`` is the definition's error state, else the state the
    process started from when known, else None (leave the state as it is).
    The resource shows ``transitioning: "error"`` with ``message``.
    """

    exit_reason: ExitReason
    state_to_write: str | None
    message: str
    result: Result = Result.FAILURE
    phase: Phase = Phase.DONE
    transitioning: str = "error"


def decide_failure(
    definition: ProcessDefinition,
    *,
    exit_reason: ExitReason = ExitReason.TIMEOUT,
    origin_state: str | None = None,
    message: str | None = None,
) -> Failure:
    """Give the process up: where the resource goes and what it says."""
    state = definition.error_state or origin_state
    text = message or f"{definition.name} did not complete within its overall timeout"
    return Failure(exit_reason, state, text)


def decide_after_error(
    definition: ProcessDefinition,
    exit_reason: ExitReason,
    *,
    attempt: int,
    start_time: float,
    now: float,
    timeout: float | None,
    policy: RetryPolicy | None = None,
    delay: float | None = None,
    origin_state: str | None = None,
    message: str | None = None,
) -> Retry | Failure:
    """After a non-final exit: retry with backoff, or fail past the deadline.

    ``attempt`` is the 1-based number of the attempt that just ended (the
    row's execution_count); ``start_time`` is the process's start_time;
    ``timeout`` the current value of the definition's timeout setting (0 or
    None: none). ``delay`` (a :class:`ProcessDelay`'s) replaces the backoff.
    """
    if is_final(exit_reason):
        raise ValueError(f"{exit_reason} is final; use decide_success or the start decision")
    if overall_deadline_passed(start_time, now, timeout):
        return decide_failure(
            definition, exit_reason=exit_reason, origin_state=origin_state, message=message
        )
    wait = (policy or RetryPolicy()).delay(attempt) if delay is None else max(0.0, delay)
    return Retry(exit_reason, wait, now + wait)
