"""Where to resume: the highest seq below which every received event was handled (pure).

Workers finish events out of order (different resources run in parallel), so "the last
seq handled" is a low watermark: ``position`` is the largest seq ``W`` such that every
seq ``<= W`` this subscriber received is done. Resuming with ``since=W`` can re-send
events above ``W`` that were already received (queued, running or done): ``accept``
refuses those, so handlers never see a seq twice.

:class:`StateFile` keeps the cursor across restarts of the subscriber process: the
watermark and the seqs done above it, written atomically (temp file + rename).
"""

from __future__ import annotations

import heapq
import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["Cursor", "StateFile"]

log = logging.getLogger(__name__)


class Cursor:
    """The resume position and the dedupe set of one stream of seqs."""

    __slots__ = ("_done", "_open", "_open_heap", "position")

    def __init__(self, position: int | None = None, done: list[int] | None = None) -> None:
        self.position: int | None = position
        self._open: set[int] = set()  # received, not finished
        self._open_heap: list[int] = []  # the same seqs (lazily pruned)
        self._done: list[int] = []  # finished seqs above position (a heap)
        # Restored seqs done above the position only refuse duplicates: the position must
        # not pass them until the seqs between (received, unfinished, lost with the last
        # process) have come again and are done.
        for seq in done or ():
            if position is not None and seq > position:
                heapq.heappush(self._done, seq)

    def seen(self, seq: int) -> bool:
        """True if ``seq`` was received before (handled, running or queued)."""
        if self.position is not None and seq <= self.position:
            return True
        return seq in self._open or seq in self._done

    def accept(self, seq: int) -> bool:
        """Record ``seq`` as received; False (and nothing recorded) if it is a duplicate."""
        if self.seen(seq):
            return False
        if self.position is None and not self._open and not self._done:
            # The first seq of a fresh stream: nothing before it is ours to handle, so a
            # resume before it is done must start just before it.
            self.position = seq - 1
        self._open.add(seq)
        heapq.heappush(self._open_heap, seq)
        return True

    def done(self, seq: int) -> bool:
        """``seq`` was handled; True if the position moved."""
        if seq not in self._open:
            return False
        self._open.discard(seq)
        heapq.heappush(self._done, seq)
        return self._advance()

    def _advance(self) -> bool:
        heap = self._open_heap
        while heap and heap[0] not in self._open:
            heapq.heappop(heap)
        low = heap[0] if heap else None
        moved = False
        while self._done and (low is None or self._done[0] < low):
            self.position = heapq.heappop(self._done)
            moved = True
        return moved

    @property
    def pending(self) -> int:
        """Received and not yet handled."""
        return len(self._open)

    def done_above(self) -> list[int]:
        return sorted(self._done)

    def snapshot(self) -> dict[str, Any]:
        return {"seq": self.position, "done": self.done_above()}


class StateFile:
    """The cursor on disk: ``{"seq": W, "done": [...]}``; unreadable means start fresh."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._last: dict[str, Any] | None = None

    def load(self) -> Cursor:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Cursor()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable subscriber state %s: %s", self.path, exc)
            return Cursor()
        seq = raw.get("seq") if isinstance(raw, dict) else None
        done = raw.get("done") if isinstance(raw, dict) else None
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
            log.warning("ignoring subscriber state %s: bad seq %r", self.path, seq)
            return Cursor()
        if not isinstance(done, list) or not all(type(s) is int for s in done):
            done = []
        log.info("resuming from %s: seq %s", self.path, seq)
        return Cursor(seq, done)

    def save(self, cursor: Cursor) -> None:
        state = cursor.snapshot()
        if state == self._last:
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("cannot write subscriber state %s: %s", self.path, exc)
            return
        self._last = state
