"""Reconnect delays: exponential backoff with full jitter, as a value object (pure)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(slots=True)
class Backoff:
    """``initial * 2**n`` capped at ``maximum``; each delay drawn from the upper half of
    it, so a fleet of subscribers cut off by one server restart does not come back in step.

    ``next()`` gives the delay before the next attempt; ``reset()`` after a success.
    """

    initial: float = 0.25
    maximum: float = 10.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError("backoff needs 0 < initial <= maximum")

    def next(self) -> float:
        ceiling = min(self.maximum, self.initial * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return ceiling * self.rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.attempt = 0
