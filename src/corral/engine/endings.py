"""How an attempt ends: success is in ``pool.py``; here the failures (retry with backoff,
the overall timeout, a final verdict) and the writes of every end (the process row, its
execution log row, the bounded history of a long-retried process).

Each write is an op of the store's group commit (``Store.group``): it runs again if its
batch fails, so it builds everything from its arguments.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from corral.engine import hotsql
from corral.engine.attempt import Attempt
from corral.engine.backoff import RetryPolicy
from corral.engine.definitions import ProcessDefinition, timeout_setting_name
from corral.engine.log import ExecutionLog
from corral.engine.statemachine import (
    ExitReason,
    Failure,
    Phase,
    Result,
    decide_after_error,
    exit_reason_for,
    is_final,
)
from corral.engine.submit import now_ms
from corral.errors import ErrorReply, ProcessDelay
from corral.store.group import Batch

log = logging.getLogger(__name__)

# Execution rows kept per process: the first few attempts and the most recent ones.
KEEP_FIRST_EXECUTIONS = 2
KEEP_LAST_EXECUTIONS = 8


class AttemptEndings:
    """The end of attempts, for ``ProcessPool`` (which provides ``services`` and ``store``)."""

    services: Any
    store: Any

    async def _after_error(self, a: Attempt, transitioning_state: str | None, attempt_no: int,
                           exc: BaseException) -> None:
        definition, table, process = a.definition, a.rtype.table, a.process
        reason = exit_reason_for(exc)
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        now = time.time()
        if is_final(reason):  # a handler found the process has nothing left to do
            a.log.note(message, time=now)
            a.log.end_attempt(exit_reason=reason, time=now)

            async def final(conn: Batch) -> Any:
                row = (await conn.execute(hotsql.update_resource(table), {
                    "b_id": process["resource_id"], "transitioning": "no"})).one()
                await self._finish(conn, process, attempt_no, reason, Result.CANCELED, a.log)
                return row

            await self.services.changed(a.rtype, await self.store.group(final))
            return
        timeout = self._overall_timeout(definition)
        policy = RetryPolicy.from_settings(
            self.services.settings.get("process.retry_max_wait.millis"))
        decision = decide_after_error(
            definition, reason, attempt=attempt_no, start_time=process["start_time"] / 1000,
            now=now, timeout=timeout, policy=policy,
            delay=exc.delay if isinstance(exc, ProcessDelay) else None,
            origin_state=a.data.get("originState"), message=message)
        if reason is ExitReason.UNKNOWN_EXCEPTION:
            log.warning("process %s (%s) attempt %d failed: %r", process["id"], definition.name,
                        attempt_no, exc)
        a.log.set_exception(exc)
        a.log.end_attempt(exit_reason=reason, time=now)
        # what the resource shows: the failure, or an agent's error reply while it is retried
        values: dict[str, Any] | None = None
        if isinstance(decision, Failure) or isinstance(exc, ErrorReply):
            values = {"transitioning": "error", "transitioning_message": message[:1024]}
            if isinstance(decision, Failure) and decision.state_to_write is not None:
                values["state"] = decision.state_to_write

        async def op(conn: Batch) -> Any:
            row = None
            if values is not None:
                row = (await conn.execute(hotsql.update_resource(table),
                                          {"b_id": process["resource_id"], **values})).one()
            if isinstance(decision, Failure):
                await self._finish(conn, process, attempt_no, reason, Result.FAILURE, a.log)
            else:
                conn.later(hotsql.update_process(), {
                    "b_id": process["id"], "exit_reason": reason.value,
                    "run_after": int(decision.run_after * 1000),
                    "running_process_server_id": None, "running_at": None})
                await self._record(conn, process["id"], attempt_no, a.log)
            return row

        row = await self.store.group(op)
        if row is not None:
            await self.services.changed(a.rtype, row)

    def _overall_timeout(self, definition: ProcessDefinition) -> float:
        try:
            return float(self.services.settings.get(timeout_setting_name(definition.name)))
        except (KeyError, ValueError):
            return definition.default_timeout

    async def _finish(self, conn: Batch, process: Any, attempt_no: int, reason: ExitReason,
                      result: Result, elog: ExecutionLog) -> None:
        conn.later(hotsql.update_process(), {
            "b_id": process["id"], "end_time": now_ms(), "exit_reason": reason.value,
            "result": result.value, "phase": Phase.DONE.value,
            "running_process_server_id": None,
            "execution_count": max(attempt_no, int(process["execution_count"]))})
        await self._record(conn, process["id"], attempt_no, elog)

    async def _record(self, conn: Batch, process_id: int, attempt_no: int,
                      elog: ExecutionLog) -> None:
        row = {"process_instance_id": process_id, "created": now_ms(), "log": elog.to_json()}
        if attempt_no <= KEEP_FIRST_EXECUTIONS + KEEP_LAST_EXECUTIONS:
            conn.later(hotsql.insert_execution(), row)
            return
        # a long-retried process: keep the first attempts and the most recent ones
        await conn.execute(hotsql.insert_execution(), row)
        ids = [r.id for r in await conn.execute(hotsql.execution_ids(), {"b_pid": process_id})]
        drop = ids[KEEP_FIRST_EXECUTIONS:-KEEP_LAST_EXECUTIONS]
        if drop:  # ids in order: the ones to drop lie between two bounds
            await conn.execute(hotsql.delete_executions(), {
                "b_pid": process_id, "b_lo": drop[0], "b_hi": drop[-1]})


__all__ = ["KEEP_FIRST_EXECUTIONS", "KEEP_LAST_EXECUTIONS", "AttemptEndings"]
