"""A script written against the typed API; `mypy --strict` must accept it as it is
(make test-python checks). Not run by pytest."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import cronium
import cronium.aio


def transform(record: Dict[str, Any]) -> Dict[str, Any]:
    return {**record, "seen": True}


def sync_script() -> None:
    order: Dict[str, Any] = cronium.input()
    seen: int = cronium.get_variable("orders_seen", 0)
    version: int = cronium.set_variable("orders_seen", seen + 1)
    cronium.set_condition(order["total"] > 100)
    cronium.output({"id": order["id"], "ok": True, "version": version})

    runs: cronium.Variable[int] = cronium.variable("runs")
    count: int = runs.get(0) + 1
    runs.set(count)
    info: Optional[cronium.VariableInfo] = runs.info()
    if info is not None:
        runs.set(count + 1, if_version=info.version)
    unsubscribe = runs.subscribe(lambda v: print("runs is now", v))
    unsubscribe()

    with cronium.watch_variable("runs") as watch:
        for change in watch:
            print(change.key, change.value, change.version, change.deleted)
            break

    for record in cronium.stream_input():
        cronium.stream_output(transform(record))
    with cronium.stream_output() as out:
        out.write({"last": True})
    summary: cronium.StreamSummary = cronium.stream_output().close()
    print(summary.records, summary.bytes)

    keys: List[str] = cronium.list_variables()
    context: Dict[str, Any] = cronium.get_context()
    old_context: Dict[str, Any] = cronium.event()
    condition: Optional[bool] = cronium.get_condition()
    print(keys, context["executionId"], old_context, condition)

    try:
        cronium.send_slack_message("done", channel="#alerts")
        cronium.send_email(["ops@example.com"], "done", "all good")
        cronium.send_teams_message("Build 7 passed", title="CI")
        card: Any = cronium.create_trello_card("LIST", "Fix login", desc="...")
        cronium.append_sheet_rows("Log!A:C", [["ok", 42]], spreadsheetId="SHEET")
        tools: List[Dict[str, Any]] = cronium.list_tools()
        print(card, [t["tool"] for t in tools])
    except cronium.ToolActionError as e:
        print(e.code, e.status, e.retryable)
    except TimeoutError:
        pass

    explicit = cronium.Cronium(socket="/run/cronium/runtime.sock", token="t", timeout=5.0)
    print(explicit.endpoint, explicit.get_variable("k"))

    # The names of the old helpers.
    old: Any = cronium.getVariable("k")
    cronium.setVariable("k", old)
    cronium.setCondition(True)
    print(cronium.getCondition())


async def async_script() -> None:
    async for record in cronium.stream_input():
        await cronium.stream_output(transform(record))

    n: int = await cronium.aio.get_variable("runs", 0)
    await cronium.aio.set_variable("runs", n + 1)
    counter: cronium.AsyncVariable[int] = cronium.aio.variable("runs")
    value: int = await counter.get(0)
    await counter.set(value + 1)
    async with await counter.watch() as watch:
        async for change in watch:
            print(change.value)
            break
    stop = await counter.subscribe(lambda v: None)
    stop()
    async with cronium.aio.stream_output() as out:
        await out.write({"n": n})
    ctx: Dict[str, Any] = await cronium.aio.get_context()
    result: Any = await cronium.Cronium().aio.execute_tool_action(
        "webhook", "request", {"path": "/hook"}, idempotency_key="run-1"
    )
    print(ctx, result)


if __name__ == "__main__":
    sync_script()
    asyncio.run(async_script())
