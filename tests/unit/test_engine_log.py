"""The execution log: records attempts, stays bounded, says when it cut."""

from __future__ import annotations

import json

import pytest

from corral.engine.log import ExecutionLog, LogLimits, truncate


def one_attempt(log: ExecutionLog, n: int, *, entries: int = 1) -> None:
    log.begin_attempt(attempt=n, server_id="server-1", time=float(n))
    for i in range(entries):
        log.note(f"entry {i}", time=float(n))
    log.end_attempt(exit_reason="TIMEOUT", time=n + 0.5)


def test_records_an_attempt_with_everything_the_spec_names() -> None:
    log = ExecutionLog(process_name="instance.start", resource_type="instance", resource_id="1i5")
    log.begin_attempt(attempt=1, server_id="srv-a", time=10.0)
    log.transition("stopped", "starting", time=10.1)
    log.handler("instance.start:agent", time=10.2)
    log.event_sent(
        name="compute.instance.activate;agent=3",
        event_id="e1",
        reply_to="reply.42",
        timeout=45.0,
        time=10.2,
    )
    log.reply_timeout(
        name="compute.instance.activate;agent=3", event_id="e1", time=55.2, timeout=45
    )
    log.reply_received(
        name="reply.42",
        event_id="r1",
        previous_id="e1",
        transitioning="error",
        message="boom",
        time=56.0,
    )
    try:
        raise RuntimeError("agent failed")
    except RuntimeError as exc:
        log.set_exception(exc)
    log.end_attempt(exit_reason="RETRY_EXCEPTION", time=56.1)

    data = log.to_json()
    json.dumps(data)  # serialisable as is
    assert data["processName"] == "instance.start"
    assert data["resourceId"] == "1i5"
    assert data["truncated"] is False
    (attempt,) = data["attempts"]
    assert attempt["attempt"] == 1
    assert attempt["serverId"] == "srv-a"
    assert (attempt["start"], attempt["stop"]) == (10.0, 56.1)
    assert attempt["exitReason"] == "RETRY_EXCEPTION"
    assert "RuntimeError: agent failed" in attempt["exception"]
    types = [e["type"] for e in attempt["entries"]]
    assert types == ["transition", "handler", "event", "timeout", "reply"]
    assert attempt["entries"][0] == {
        "type": "transition",
        "time": 10.1,
        "from": "stopped",
        "to": "starting",
    }
    assert attempt["entries"][2]["replyTo"] == "reply.42"
    assert attempt["entries"][4]["previousId"] == "e1"
    assert "droppedEntries" not in attempt


def test_entries_need_an_open_attempt() -> None:
    log = ExecutionLog()
    with pytest.raises(RuntimeError):
        log.note("nothing open", time=0)
    one_attempt(log, 1)
    with pytest.raises(RuntimeError):
        log.set_exception("closed")


def test_keeps_first_and_last_attempts_when_over_the_maximum() -> None:
    log = ExecutionLog(limits=LogLimits(max_attempts=5, keep_first_attempts=2))
    for n in range(1, 21):
        one_attempt(log, n)
    numbers = [a["attempt"] for a in log.to_json()["attempts"]]
    assert numbers == [1, 2, 18, 19, 20]
    assert log.dropped_attempts == 15
    assert log.to_json()["truncated"] is True


def test_keeps_first_and_last_entries_of_a_long_attempt() -> None:
    log = ExecutionLog(limits=LogLimits(max_entries=6, keep_first_entries=2))
    one_attempt(log, 1, entries=100)
    (attempt,) = log.to_json()["attempts"]
    texts = [e["text"] for e in attempt["entries"]]
    assert texts == ["entry 0", "entry 1", "entry 96", "entry 97", "entry 98", "entry 99"]
    assert attempt["droppedEntries"] == 94
    assert log.truncated


def test_long_strings_are_cut_with_a_marker() -> None:
    log = ExecutionLog(limits=LogLimits(max_text=10, max_exception=20))
    log.begin_attempt(attempt=1, server_id="s" * 50, time=0)
    log.note("x" * 100, time=0)
    log.set_exception("y" * 100)
    attempt = log.to_json()["attempts"][0]
    assert attempt["entries"][0]["text"] == "x" * 10 + "… [90 more chars]"
    assert attempt["exception"].startswith("y" * 20) and "80 more chars" in attempt["exception"]
    assert attempt["serverId"].startswith("s" * 10) and len(attempt["serverId"]) < 50
    assert truncate("short", 10) == "short"


def test_size_stays_bounded_however_long_the_process_runs() -> None:
    limits = LogLimits(max_attempts=4, keep_first_attempts=1, max_entries=5, keep_first_entries=1)
    log = ExecutionLog(limits=limits)
    sizes = []
    for n in range(1, 200):
        one_attempt(log, n, entries=20)
        sizes.append(len(json.dumps(log.to_json())))
    assert max(sizes[10:]) - min(sizes[10:]) < 100  # flat once the bounds are reached


def test_round_trip_through_json_and_append_a_later_attempt() -> None:
    limits = LogLimits(max_attempts=3, keep_first_attempts=1)
    log = ExecutionLog(process_name="volume.remove", limits=limits)
    for n in range(1, 5):
        one_attempt(log, n)
    stored = json.loads(json.dumps(log.to_json()))

    again = ExecutionLog.from_json(stored, limits=limits)
    assert again.to_json() == stored
    one_attempt(again, 5)
    data = again.to_json()
    assert [a["attempt"] for a in data["attempts"]] == [1, 4, 5]
    assert data["droppedAttempts"] == 2
    assert ExecutionLog.from_json(None).to_json()["attempts"] == []


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        LogLimits(max_attempts=2, keep_first_attempts=2)
    with pytest.raises(ValueError):
        LogLimits(max_entries=1, keep_first_entries=3)
    with pytest.raises(ValueError):
        LogLimits(max_text=0)
