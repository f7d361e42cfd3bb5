"""The process engine.

Pure core (no asyncio, no database): :mod:`.definitions` and :mod:`.tables`
(processes as data), :mod:`.statemachine` (the decisions of one attempt),
:mod:`.backoff` (retry policy and overall timeout), :mod:`.log` (the bounded
execution log). The async pool, locks and replay task build on them.
"""
