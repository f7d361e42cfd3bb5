"""Fixtures of the runtime driver tests: a harness that cleans up every spawned process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.agent.runtime import LocalProcessDriver
from tests.unit.test_runtime_support import Harness


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness(tmp_path) as h:
        yield h


@pytest.fixture
async def driver(harness: Harness) -> LocalProcessDriver:
    return await harness.driver()
