"""Watches and subscriptions, and threads: the interpreter is released while a call
waits, so other threads run and call the module at the same time."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, List, Optional

import pytest

import cronium

from conftest import Execution, Sidecar
from test_errors import Scripted


def test_watch_reports_changes_after_it_opened(execution: Execution) -> None:
    cronium.set_variable("w", "before")
    with cronium.watch_variable("w") as watch:
        assert watch.key == "w"
        cronium.set_variable("w", 1)
        cronium.set_variable("w", {"two": 2})
        cronium.delete_variable("w")
        changes = [next(watch), next(watch), next(watch)]
    assert [(c.value, c.version, c.deleted) for c in changes] == [
        (1, 2, False),
        ({"two": 2}, 3, False),
        (None, None, True),
    ]
    assert all(c.key == "w" for c in changes)
    assert watch.closed
    assert list(watch) == []


def test_variable_handle_watch(execution: Execution) -> None:
    v = cronium.variable("h")
    w = v.watch()
    v.set(0)
    change = next(w)
    assert isinstance(change, cronium.VariableChange)
    assert (change.value, change.version) == (0, 1)
    w.close()


def test_close_from_another_thread_ends_a_waiting_watch(execution: Execution) -> None:
    watch = cronium.watch_variable("idle")
    got: "queue.Queue[List[Any]]" = queue.Queue()
    t = threading.Thread(target=lambda: got.put(list(watch)))
    t.start()
    time.sleep(0.3)
    assert t.is_alive()
    watch.close()
    assert got.get(timeout=5) == []
    t.join(timeout=5)


def test_subscribe_calls_back_until_unsubscribed(execution: Execution) -> None:
    seen: "queue.Queue[Optional[int]]" = queue.Queue()
    runs = cronium.variable("runs")
    unsubscribe = runs.subscribe(seen.put)
    for i in range(3):
        runs.set(i)
    assert [seen.get(timeout=5) for _ in range(3)] == [0, 1, 2]
    runs.delete()
    assert seen.get(timeout=5) is None
    unsubscribe()
    runs.set(99)
    time.sleep(0.3)
    assert seen.empty()
    unsubscribe()  # idempotent


def test_a_failing_callback_does_not_end_the_subscription(
    execution: Execution, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: "queue.Queue[Any]" = queue.Queue()

    def callback(value: Any) -> None:
        if value == "bad":
            raise ValueError("callback failed")
        seen.put(value)

    unsubscribe = cronium.variable("cb").subscribe(callback)
    cronium.set_variable("cb", "bad")
    cronium.set_variable("cb", "good")
    assert seen.get(timeout=5) == "good"
    unsubscribe()
    assert "callback failed" in capsys.readouterr().err


def test_calls_run_while_another_thread_waits_on_a_watch(execution: Execution) -> None:
    """A thread blocked in a watch holds no interpreter lock: the main thread keeps
    calling, and its own write is what wakes the watcher."""
    watch = cronium.watch_variable("signal")
    got: "queue.Queue[Any]" = queue.Queue()
    t = threading.Thread(target=lambda: got.put(next(watch).value))
    t.start()
    time.sleep(0.2)
    for i in range(50):
        assert cronium.get_variable("signal", i) == i
    cronium.set_variable("signal", "go")
    assert got.get(timeout=5) == "go"
    t.join(timeout=5)
    watch.close()


def test_threads_share_a_client(execution: Execution) -> None:
    errors: List[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(50):
                cronium.set_variable(f"t{n}", i)
                assert cronium.get_variable(f"t{n}") == i
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert cronium.list_variables() == sorted(f"t{n}" for n in range(8))


def test_slow_calls_in_threads_overlap() -> None:
    """Eight calls that each take 0.4 s on the server finish together in far less than
    the 3.2 s they would take one after another."""
    server = Scripted()
    try:
        server.set(200, {"data": ["k"]}, delay=0.4)
        c = server.client()
        results: List[Any] = []
        started = time.monotonic()
        threads = [
            threading.Thread(target=lambda: results.append(c.list_variables())) for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        elapsed = time.monotonic() - started
        assert results == [["k"]] * 8
        assert elapsed < 1.6, f"8 overlapping calls took {elapsed:.2f}s"
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_a_python_thread_runs_while_a_call_waits() -> None:
    server = Scripted()
    try:
        server.set(200, {"data": []}, delay=0.5)
        c = server.client()
        ticks = 0
        stop = threading.Event()

        def spin() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1

        t = threading.Thread(target=spin)
        t.start()
        time.sleep(0.05)
        before = ticks
        c.list_variables()
        during = ticks - before
        stop.set()
        t.join()
        assert during > 10_000, f"the spinning thread advanced only {during} times"
    finally:
        server.server.shutdown()
        server.server.server_close()


def test_watch_across_clients_of_one_user(sidecar: Sidecar, execution: Execution) -> None:
    other = sidecar.create(user=execution.user)
    writer = cronium.Cronium(socket=str(sidecar.socket), token=other.token)
    with cronium.watch_variable("shared") as w:
        writer.set_variable("shared", [1, 2])
        assert next(w).value == [1, 2]
