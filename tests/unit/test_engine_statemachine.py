"""The decisions of one attempt: start, resume, done, chain, retry, fail."""

from __future__ import annotations

import pytest

from corral.engine import definitions
from corral.engine.backoff import RetryPolicy
from corral.engine.definitions import ProcessDefinition, Registry
from corral.engine.statemachine import (
    DELEGATE,
    FINAL_EXIT_REASONS,
    Completion,
    ExitReason,
    Failure,
    Phase,
    Result,
    Retry,
    Verdict,
    decide_after_error,
    decide_failure,
    decide_start,
    decide_success,
    exit_reason_for,
    is_final,
    result_for,
)
from corral.errors import (
    CallTimeout,
    ErrorReply,
    ProcessAlreadyInProgress,
    ProcessCanceled,
    ProcessDelay,
    ProcessError,
    ResourceBusy,
    StoreError,
)

START = definitions.get("instance.start")
CREATE = definitions.get("instance.create")


def test_exit_reasons_are_exactly_the_spec_list() -> None:
    assert [r.value for r in ExitReason] == [
        "DONE",
        "ALREADY_DONE",
        "CHAIN",
        "CANCELED",
        "DELAY",
        "RESOURCE_BUSY",
        "PROCESS_ALREADY_IN_PROGRESS",
        "RETRY_EXCEPTION",
        "UNKNOWN_EXCEPTION",
        "TIMEOUT",
    ]
    assert {r.value for r in Result} == {"SUCCESS", "FAILURE", "CANCELED"}
    assert [p.value for p in Phase] == ["REQUESTED", "STARTED", "HANDLER_DONE", "DONE"]


def test_final_exit_reasons() -> None:
    assert FINAL_EXIT_REASONS == {"DONE", "ALREADY_DONE", "CHAIN", "CANCELED"}
    for reason in ExitReason:
        assert is_final(reason) == (reason in FINAL_EXIT_REASONS)
    assert is_final("CHAIN") and not is_final("TIMEOUT")


def test_results_of_exit_reasons() -> None:
    assert result_for(ExitReason.DONE) is Result.SUCCESS
    assert result_for(ExitReason.ALREADY_DONE) is Result.SUCCESS
    assert result_for(ExitReason.CHAIN) is Result.SUCCESS
    assert result_for(ExitReason.CANCELED) is Result.CANCELED
    assert result_for("TIMEOUT") is None
    assert result_for(ExitReason.RESOURCE_BUSY) is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ProcessCanceled("gone"), ExitReason.CANCELED),
        (ResourceBusy("locked"), ExitReason.RESOURCE_BUSY),
        (ProcessAlreadyInProgress("elsewhere"), ExitReason.PROCESS_ALREADY_IN_PROGRESS),
        (ProcessDelay(delay=5), ExitReason.DELAY),
        (CallTimeout("no reply"), ExitReason.TIMEOUT),
        (TimeoutError(), ExitReason.TIMEOUT),
        (ErrorReply("agent said no"), ExitReason.RETRY_EXCEPTION),
        (StoreError("db"), ExitReason.RETRY_EXCEPTION),
        (ProcessError("x"), ExitReason.RETRY_EXCEPTION),
        (KeyError("bug"), ExitReason.UNKNOWN_EXCEPTION),
    ],
)
def test_exceptions_map_to_exit_reasons(error: BaseException, reason: ExitReason) -> None:
    assert exit_reason_for(error) is reason


def test_start_from_a_start_state_sets_the_transitioning_state() -> None:
    decision = decide_start(START, "stopped")
    assert decision.verdict is Verdict.START
    assert decision.state_to_write == "starting"
    assert decision.origin_state == "stopped"
    assert decision.run_handlers and decision.exit_reason is None
    assert decision.phase is Phase.STARTED


def test_start_wins_over_done_when_a_state_is_both() -> None:
    decision = decide_start(definitions.get("instance.restart"), "running")
    assert decision.verdict is Verdict.START
    assert decision.state_to_write == "restarting"


def test_update_starts_into_the_matching_transitioning_state() -> None:
    update = definitions.get("instance.update")
    assert decide_start(update, "stopped").state_to_write == "updating-stopped"
    assert decide_start(update, "running").state_to_write == "updating-running"


def test_resume_after_a_crash_in_the_transitioning_state() -> None:
    decision = decide_start(START, "starting")
    assert decision.verdict is Verdict.RESUME
    assert decision.transitioning_state == "starting"
    assert decision.state_to_write is None
    assert decision.run_handlers


def test_already_done() -> None:
    decision = decide_start(START, "running")
    assert decision.verdict is Verdict.ALREADY_DONE
    assert decision.exit_reason is ExitReason.ALREADY_DONE
    assert not decision.run_handlers and decision.phase is Phase.DONE
    assert decision.state_to_write is None


@pytest.mark.parametrize("state", ["removed", "stopping", "error", "purged", None])
def test_canceled_when_neither_start_nor_transitioning(state: str | None) -> None:
    decision = decide_start(START, state)
    assert decision.verdict is Verdict.CANCELED
    assert decision.exit_reason is ExitReason.CANCELED
    assert not decision.run_handlers


def test_success_writes_the_done_state() -> None:
    completion = decide_success(START, "starting")
    assert completion == Completion(ExitReason.DONE, "running")
    assert completion.result is Result.SUCCESS and completion.phase is Phase.DONE
    update = definitions.get("instance.update")
    assert decide_success(update, "updating-stopped").state_to_write == "stopped"


def test_delegate_chains_from_the_transitioning_state_without_writing_done() -> None:
    completion = decide_success(CREATE, "creating")
    assert completion.exit_reason is ExitReason.CHAIN
    assert completion.chain == "instance.start"
    assert completion.state_to_write is None
    assert decide_start(START, "creating").state_to_write == "starting"


def test_handler_may_skip_the_delegate() -> None:
    completion = decide_success(CREATE, "creating", chain=None)
    assert completion == Completion(ExitReason.DONE, "stopped")


def test_handler_may_chain_to_a_process_that_needs_the_done_state() -> None:
    stop = definitions.get("instance.stop")
    completion = decide_success(stop, "stopping", chain="instance.remove")
    assert completion == Completion(ExitReason.CHAIN, "stopped", "instance.remove")


def test_reconnect_chains_to_finish_or_to_disconnect() -> None:
    reconnect = definitions.get("agent.reconnect")
    assert decide_success(reconnect, "reconnecting", chain=DELEGATE).chain == (
        "agent.finishreconnect"
    )
    to_disconnect = decide_success(reconnect, "reconnecting", chain="agent.disconnect")
    assert to_disconnect.chain == "agent.disconnect"
    assert to_disconnect.state_to_write is None


def test_chain_errors() -> None:
    with pytest.raises(ProcessError, match="other resource type"):
        decide_success(START, "starting", chain="volume.activate")
    with pytest.raises(ProcessError, match="starts neither"):
        decide_success(START, "starting", chain="instance.purge")
    with pytest.raises(ProcessError):
        decide_success(START, "starting", chain="instance.nothing")


def test_success_uses_a_given_registry() -> None:
    a = ProcessDefinition("x.a", "x", frozenset({"requested"}), "t", "d")
    b = ProcessDefinition("x.b", "x", frozenset({"t"}), "u", "e")
    registry = Registry([a, b])
    assert decide_success(a, "t", chain="x.b", registry=registry).chain == "x.b"


def test_non_final_exit_is_retried_with_backoff() -> None:
    outcome = decide_after_error(
        START, ExitReason.TIMEOUT, attempt=3, start_time=0.0, now=100.0, timeout=600
    )
    assert isinstance(outcome, Retry)
    assert outcome.delay == pytest.approx(2.4)
    assert outcome.run_after == pytest.approx(102.4)
    assert outcome.exit_reason is ExitReason.TIMEOUT
    assert outcome.phase is Phase.STARTED


def test_retry_uses_the_policy_and_a_handler_delay() -> None:
    policy = RetryPolicy(max_wait=1.0)
    outcome = decide_after_error(
        START, ExitReason.RESOURCE_BUSY, attempt=9, start_time=0, now=0, timeout=0, policy=policy
    )
    assert isinstance(outcome, Retry) and outcome.delay == 1.0
    delayed = decide_after_error(
        START, ExitReason.DELAY, attempt=1, start_time=0, now=10, timeout=None, delay=30
    )
    assert isinstance(delayed, Retry) and delayed.run_after == 40


def test_no_overall_timeout_retries_for_ever() -> None:
    outcome = decide_after_error(
        START, ExitReason.TIMEOUT, attempt=10**6, start_time=0, now=10**9, timeout=0
    )
    assert isinstance(outcome, Retry) and outcome.delay == 120.0


def test_past_the_overall_timeout_the_process_fails_into_its_error_state() -> None:
    outcome = decide_after_error(
        START, ExitReason.TIMEOUT, attempt=8, start_time=0.0, now=600.0, timeout=600
    )
    assert isinstance(outcome, Failure)
    assert outcome.result is Result.FAILURE
    assert outcome.state_to_write == "error"
    assert outcome.exit_reason is ExitReason.TIMEOUT
    assert outcome.transitioning == "error"
    assert "instance.start" in outcome.message
    assert outcome.phase is Phase.DONE


def test_failure_without_error_state_goes_back_to_the_origin() -> None:
    remove = definitions.get("instance.remove")
    failure = decide_failure(remove, origin_state="stopped", message="agent gone")
    assert failure.state_to_write == "stopped"
    assert failure.message == "agent gone"
    assert decide_failure(remove).state_to_write is None


def test_final_exit_reasons_are_not_retried() -> None:
    with pytest.raises(ValueError):
        decide_after_error(START, ExitReason.DONE, attempt=1, start_time=0, now=0, timeout=None)
