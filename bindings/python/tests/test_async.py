"""`cronium.aio` and `Cronium(...).aio`: coroutines on the Rust runtime, awaited from
asyncio without blocking the event loop."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Awaitable, Callable, List, Optional, TypeVar

import pytest

import cronium
import cronium.aio as aio

from conftest import Execution, Sidecar
from test_errors import Scripted

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await main()

    return asyncio.run(wrapper())


def test_module_functions_are_coroutine_functions() -> None:
    for name in aio.__all__:
        fn = getattr(aio, name)
        expected_sync = name in ("client", "variable", "stream_input", "stream_output")
        assert inspect.iscoroutinefunction(fn) is not expected_sync, name
    assert cronium.aio is aio


def test_every_operation(execution: Execution) -> None:
    async def main() -> None:
        assert await aio.input() == {"n": 2, "name": "Ada"}
        await aio.output({"ok": True})
        assert await aio.get_output() == {"ok": True}
        assert await aio.get_variable("a") is None
        assert await aio.get_variable("a", 0) == 0
        assert await aio.set_variable("a", 0) == 1
        assert await aio.get_variable("a", "default") == 0
        info = await aio.get_variable_info("a")
        assert info is not None and info.version == 1
        with pytest.raises(cronium.ConflictError):
            await aio.set_variable("a", 1, if_version=0)
        assert await aio.list_variables() == ["a"]
        assert await aio.delete_variable("a") is True
        await aio.set_condition(True)
        assert await aio.get_condition() is True
        ctx = await aio.get_context()
        assert ctx["executionId"] == execution.id
        assert await aio.context() == ctx
        assert await aio.event() == ctx
        assert await aio.client().get_context() == ctx
        await aio.refresh_token()
        with pytest.raises(cronium.ToolActionError):
            await aio.execute_tool_action("slack", "slack-send-message", {"text": "x"})
        with pytest.raises(cronium.ToolActionError):
            await aio.send_slack_message("x")
        with pytest.raises(cronium.ToolActionError):
            await aio.send_discord_message("x")
        with pytest.raises(cronium.ToolActionError):
            await aio.send_email("a@example.com", "s", "b")
        for call in (
            aio.send_teams_message("x", title="t"),
            aio.create_trello_card("list1", "card"),
            aio.append_sheet_rows("A:B", [["a", 1]], spreadsheetId="s"),
        ):
            with pytest.raises(cronium.ToolActionError) as err:
                await call
            assert err.value.code == "tool_not_configured"
        assert await aio.list_tools() == []
        with pytest.raises(TypeError):
            await aio.set_variable("a", {1, 2})
        with pytest.raises(cronium.ValidationError):
            await aio.get_variable("bad key")

    run(main)


def test_async_variable_handle(execution: Execution) -> None:
    async def main() -> None:
        v = aio.variable("runs")
        assert await v.get() is None
        assert await v.set((await v.get(0)) + 1) == 1
        assert await v.get() == 1
        assert (await v.info()) is not None
        assert await v.delete() is True

    run(main)


def test_calls_run_concurrently(execution: Execution) -> None:
    async def main() -> List[Any]:
        await aio.set_variable("c", "v")
        return list(await asyncio.gather(*(aio.get_variable("c") for _ in range(100))))

    assert run(main) == ["v"] * 100


def test_the_event_loop_keeps_running_while_a_call_waits() -> None:
    server = Scripted()
    try:
        server.set(200, {"data": []}, delay=0.5)
        c = server.client()

        async def main() -> int:
            ticks = 0
            done = False

            async def ticker() -> None:
                nonlocal ticks
                while not done:
                    ticks += 1
                    await asyncio.sleep(0.01)

            t = asyncio.ensure_future(ticker())
            started = time.monotonic()
            # Eight slow calls at once take about one call's time.
            await asyncio.gather(*(c.aio.list_variables() for _ in range(8)))
            assert time.monotonic() - started < 1.6
            done = True
            await t
            return ticks

        assert run(main) > 20
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_errors_are_raised_in_the_awaiting_task() -> None:
    server = Scripted()
    try:
        server.set(503, {"error": {"code": "storage_unavailable", "message": "down"}})

        async def main() -> None:
            with pytest.raises(cronium.UnavailableError) as err:
                await server.client().aio.get_variable("k")
            assert err.value.retryable and err.value.status == 503

        run(main)
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_cancelling_a_call(execution: Execution) -> None:
    async def main() -> None:
        watch = await aio.watch_variable("never")
        task = asyncio.ensure_future(watch.__anext__())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        watch.close()
        assert await aio.get_variable("never", 1) == 1

    run(main)


def test_async_watch(execution: Execution) -> None:
    async def main() -> List[Any]:
        seen: List[Any] = []
        async with await aio.watch_variable("w") as watch:
            await aio.set_variable("w", 1)
            await aio.set_variable("w", 2)
            async for change in watch:
                seen.append(change.value)
                if len(seen) == 2:
                    break
        assert watch.closed
        return seen

    assert run(main) == [1, 2]


def test_async_subscribe(execution: Execution) -> None:
    async def main() -> List[Optional[int]]:
        seen: List[Optional[int]] = []
        got = asyncio.Event()

        async def on_change(value: Optional[int]) -> None:
            seen.append(value)
            if len(seen) == 2:
                got.set()

        v = aio.variable("s")
        unsubscribe = await v.subscribe(on_change)
        await v.set(1)
        await v.set(2)
        await asyncio.wait_for(got.wait(), 5)
        unsubscribe()
        await asyncio.sleep(0.05)
        return seen

    assert run(main) == [1, 2]


def test_close_of_a_watch_ends_a_waiting_async_for(execution: Execution) -> None:
    async def main() -> List[Any]:
        watch = await aio.watch_variable("quiet")

        async def consume() -> List[Any]:
            return [c async for c in watch]

        task = asyncio.ensure_future(consume())
        await asyncio.sleep(0.2)
        watch.close()
        return await asyncio.wait_for(task, 5)

    assert run(main) == []


def test_explicit_async_client(sidecar: Sidecar, execution: Execution) -> None:
    c = cronium.Cronium(url=sidecar.url, token=execution.token)
    assert c.aio is c.aio
    assert c.aio.endpoint == sidecar.url

    async def main() -> None:
        await c.aio.set_variable("x", [1])
        assert c.get_variable("x") == [1]  # sync and async share the configuration
        assert await c.aio.get_variable("x") == [1]
        assert (await c.aio.event())["executionId"] == execution.id

    run(main)


def test_coroutines_outside_a_loop_are_refused(execution: Execution) -> None:
    with pytest.raises(RuntimeError):
        cronium.client().aio.get_variable("k")
