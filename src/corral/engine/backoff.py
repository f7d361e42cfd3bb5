"""The retry policy of the process pool, as a value object.

After the n-th non-final attempt (n = 1, 2, …) the process waits
``min(max_wait, 2 s + 2^(n-1) × 100 ms)`` before the next one (spec §5):
2.1, 2.2, 2.4, 2.8, 3.6, 5.2, 8.4, 14.8, 27.6, 53.2, 104.4, then 120 s for
ever with the default ``max_wait`` of 120 s (setting
``process.retry_max_wait.millis``, 120000).

Pure: durations are seconds as floats, times are epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_RETRY_MAX_WAIT_MILLIS",
    "RETRY_MAX_WAIT_SETTING",
    "RetryPolicy",
    "overall_deadline",
    "overall_deadline_passed",
]

RETRY_MAX_WAIT_SETTING: Final = "process.retry_max_wait.millis"
DEFAULT_RETRY_MAX_WAIT_MILLIS: Final = 120_000

# 2**62 × 100 ms is far beyond any sane max_wait; past it the cap applies.
_MAX_EXPONENT: Final = 62


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``delay(n) = min(max_wait, base + 2^(n-1) × step)``, all in seconds."""

    max_wait: float = DEFAULT_RETRY_MAX_WAIT_MILLIS / 1000
    base: float = 2.0
    step: float = 0.1

    def __post_init__(self) -> None:
        if self.max_wait < 0 or self.base < 0 or self.step < 0:
            raise ValueError("retry policy durations must not be negative")

    @classmethod
    def from_settings(cls, max_wait_millis: float | str | None) -> RetryPolicy:
        """From the value of ``process.retry_max_wait.millis`` (None: default)."""
        if max_wait_millis is None or max_wait_millis == "":
            return cls()
        return cls(max_wait=float(max_wait_millis) / 1000)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th attempt (values < 1 count as 1)."""
        exponent = max(1, attempt) - 1
        if exponent > _MAX_EXPONENT:
            return self.max_wait
        return min(self.max_wait, self.base + (1 << exponent) * self.step)

    def run_after(self, attempt: int, now: float) -> float:
        """Epoch seconds of the next attempt after the ``attempt``-th."""
        return now + self.delay(attempt)


def overall_deadline(start_time: float, timeout: float | None) -> float | None:
    """When a process started at ``start_time`` is given up; None if never."""
    if not timeout or timeout <= 0:
        return None
    return start_time + timeout


def overall_deadline_passed(start_time: float, now: float, timeout: float | None) -> bool:
    """True once ``now`` is at or past ``start_time + timeout``; 0 or None: never."""
    deadline = overall_deadline(start_time, timeout)
    return deadline is not None and now >= deadline
