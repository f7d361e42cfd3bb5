"""The retry policy: Cattle's backoff curve, capped, and the overall timeout."""

from __future__ import annotations

import pytest

from corral.engine.backoff import (
    DEFAULT_RETRY_MAX_WAIT_MILLIS,
    RETRY_MAX_WAIT_SETTING,
    RetryPolicy,
    overall_deadline,
    overall_deadline_passed,
)

EXPECTED = {
    1: 2.1,
    2: 2.2,
    3: 2.4,
    4: 2.8,
    5: 3.6,
    6: 5.2,
    7: 8.4,
    8: 14.8,
    9: 27.6,
    10: 53.2,
    11: 104.4,
    12: 120.0,
}


@pytest.mark.parametrize(("attempt", "seconds"), sorted(EXPECTED.items()))
def test_delay_for_attempts_1_to_12(attempt: int, seconds: float) -> None:
    assert RetryPolicy().delay(attempt) == pytest.approx(seconds)


def test_delay_is_capped_by_max_wait_and_never_overflows() -> None:
    policy = RetryPolicy()
    for attempt in (13, 50, 63, 64, 65, 1000, 10**9):
        assert policy.delay(attempt) == 120.0


def test_delay_never_decreases() -> None:
    policy = RetryPolicy()
    delays = [policy.delay(n) for n in range(1, 200)]
    assert delays == sorted(delays)


def test_attempts_below_one_count_as_the_first() -> None:
    assert RetryPolicy().delay(0) == RetryPolicy().delay(1) == pytest.approx(2.1)
    assert RetryPolicy().delay(-5) == pytest.approx(2.1)


def test_policy_from_settings_reads_milliseconds() -> None:
    assert RETRY_MAX_WAIT_SETTING == "process.retry_max_wait.millis"
    assert DEFAULT_RETRY_MAX_WAIT_MILLIS == 120_000
    assert RetryPolicy.from_settings(None) == RetryPolicy()
    assert RetryPolicy.from_settings("") == RetryPolicy()
    policy = RetryPolicy.from_settings("10000")
    assert policy.max_wait == 10.0
    assert policy.delay(7) == pytest.approx(8.4)
    assert policy.delay(8) == 10.0
    assert RetryPolicy.from_settings(500).delay(1) == 0.5


def test_run_after_adds_the_delay() -> None:
    assert RetryPolicy().run_after(3, 1000.0) == pytest.approx(1002.4)


def test_negative_durations_are_rejected() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_wait=-1)


@pytest.mark.parametrize("timeout", [0, 0.0, None, -3])
def test_no_overall_timeout(timeout: float | None) -> None:
    assert overall_deadline(100.0, timeout) is None
    assert not overall_deadline_passed(100.0, 10**12, timeout)


def test_overall_deadline_passes_at_start_plus_timeout() -> None:
    assert overall_deadline(100.0, 60) == 160.0
    assert not overall_deadline_passed(100.0, 159.9, 60)
    assert overall_deadline_passed(100.0, 160.0, 60)
    assert overall_deadline_passed(100.0, 500.0, 60.0)
