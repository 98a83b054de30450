"""Input and output streams, sync and async, including streams far larger than the
memory the process is allowed to grow by."""

from __future__ import annotations

import asyncio
import json
import resource
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

import cronium

from conftest import Execution, Sidecar

RECORDS: List[Any] = [
    {"id": 1, "name": "Ada"},
    0,
    "",
    False,
    None,
    [1, {"x": 2**70}],
    {"emoji": "😀", "nl": "a\nb"},
]


@pytest.fixture
def streamed(sidecar: Sidecar, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Execution:
    """An execution whose input stream is RECORDS, configured in the environment."""
    path = tmp_path / "in.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    e = sidecar.create("--input-stream", str(path))
    for k, v in e.env(sidecar).items():
        clean_env.setenv(k, v)
    return e


def test_input_stream_sync(streamed: Execution) -> None:
    assert list(cronium.stream_input()) == RECORDS
    # A new stream starts from the beginning again.
    it = cronium.stream_input()
    assert next(it) == RECORDS[0]
    assert list(it) == RECORDS[1:]


def test_input_stream_async(streamed: Execution) -> None:
    async def main() -> List[Any]:
        return [r async for r in cronium.stream_input()]

    assert asyncio.run(main()) == RECORDS


def test_empty_input_stream(execution: Execution) -> None:
    assert list(cronium.stream_input()) == []

    async def main() -> List[Any]:
        return [r async for r in cronium.aio.stream_input()]

    assert asyncio.run(main()) == []


def test_design_example_runs_as_written(streamed: Execution, sidecar: Sidecar) -> None:
    """The streaming example of DESIGN.md, verbatim inside an async function."""

    def transform(record: Any) -> Any:
        return {"seen": record}

    async def main() -> None:
        async for record in cronium.stream_input():
            await cronium.stream_output(transform(record))

    asyncio.run(main())
    summary = cronium.stream_output().close()
    assert summary == (len(RECORDS), summary.bytes)
    assert sidecar.output_stream(streamed) == [{"seen": r} for r in RECORDS]


def test_stream_output_sync_module_level(execution: Execution, sidecar: Sidecar) -> None:
    for r in RECORDS:
        cronium.stream_output(r)  # sync code may ignore the awaitable
    writer = cronium.stream_output()
    assert writer.records_written == len(RECORDS)
    assert writer.is_open
    summary = writer.close()
    assert isinstance(summary, cronium.StreamSummary)
    assert summary.records == len(RECORDS)
    assert not writer.is_open
    assert sidecar.output_stream(execution) == RECORDS
    # Closing with nothing open is a no-op; writing again opens a new request that
    # appends to the same stream.
    assert writer.close() == (0, 0)
    cronium.stream_output("more")
    assert writer.close().records == 1
    assert sidecar.output_stream(execution) == RECORDS + ["more"]


def test_writer_context_managers(client: cronium.Cronium, sidecar: Sidecar,
                                 execution: Execution) -> None:
    with client.stream_output() as out:
        out.write({"n": 1})
        out.write({"n": 2})
    assert sidecar.output_stream(execution) == [{"n": 1}, {"n": 2}]

    async def main() -> None:
        async with client.aio.stream_output() as out:
            await out.write({"n": 3})
            await client.aio.stream_output({"n": 4})

    asyncio.run(main())
    assert sidecar.output_stream(execution)[-2:] == [{"n": 3}, {"n": 4}]


def test_writer_aborts_when_the_block_raises(client: cronium.Cronium) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with client.stream_output() as out:
            out.write({"n": 1})
            raise RuntimeError("boom")
    assert not out.is_open


def test_writer_refuses_unserialisable_records(client: cronium.Cronium) -> None:
    out = client.stream_output()
    with pytest.raises(TypeError, match="Object of type object"):
        out.write(object())
    assert out.records_written == 0
    assert not out.is_open


def test_writer_reports_a_refused_stream(sidecar: Sidecar, clean_env: pytest.MonkeyPatch) -> None:
    no_output = sidecar.create("--scope", "input:read")
    c = cronium.Cronium(socket=str(sidecar.socket), token=no_output.token)
    out = c.stream_output()
    # Writes are queued and sent in the background: the refusal reaches a later write.
    deadline = time.monotonic() + 10
    with pytest.raises(cronium.AuthError) as err:
        i = 0
        while time.monotonic() < deadline:
            out.write({"i": i})
            i += 1
            if i % 100 == 0:
                time.sleep(0.001)
    assert err.value.code == "scope_insufficient"
    # close() says the same once, and resets the writer.
    with pytest.raises(cronium.AuthError):
        out.close()
    assert out.close().records == 0
    assert not out.is_open


def test_unclosed_module_stream_is_flushed_at_exit(sidecar: Sidecar, execution: Execution) -> None:
    from conftest import run_python

    code = (
        "import cronium\n"
        "for i in range(1000):\n"
        "    cronium.stream_output({'i': i})\n"
    )
    out = run_python(code, execution.env(sidecar))
    assert out.returncode == 0, out.stderr
    assert [r["i"] for r in sidecar.output_stream(execution)] == list(range(1000))


# ----- larger than memory ------------------------------------------------------------

MiB = 1 << 20
# Each record is ~1 KiB; the whole stream is 200 MiB, the allowed growth a tenth of it.
LARGE_BYTES = 200 * MiB
RSS_BUDGET = 48 * MiB


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def big_records(total: int) -> Iterator[Dict[str, Any]]:
    pad = "x" * 1000
    n = 0
    i = 0
    while n < total:
        rec = {"i": i, "pad": pad}
        n += len(pad) + 20
        i += 1
        yield rec


@pytest.mark.slow
def test_large_streams_do_not_buffer(sidecar: Sidecar, clean_env: pytest.MonkeyPatch,
                                     tmp_path: Path) -> None:
    # Input: 200 MiB of NDJSON, read record by record.
    path = tmp_path / "big.ndjson"
    with open(path, "w") as f:
        for rec in big_records(LARGE_BYTES):
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    e = sidecar.create("--input-stream", str(path))
    path.unlink()
    c = cronium.Cronium(socket=str(sidecar.socket), token=e.token)

    before = peak_rss()
    count = 0
    last = -1
    for rec in c.stream_input():
        assert rec["i"] == last + 1
        last = rec["i"]
        count += 1
    assert count == last + 1 > 200_000
    grew_in = peak_rss() - before
    assert grew_in < RSS_BUDGET, f"input stream grew RSS by {grew_in / MiB:.0f} MiB"

    # Output: 200 MiB written as it is made, never held.
    before = peak_rss()
    with c.stream_output() as out:
        for rec in big_records(LARGE_BYTES):
            out.write(rec)
    assert out.records_written == count
    grew_out = peak_rss() - before
    assert grew_out < RSS_BUDGET, f"output stream grew RSS by {grew_out / MiB:.0f} MiB"
    shown = sidecar.show(e)
    assert shown["outputStream"]["records"] == count
    assert shown["outputStream"]["bytes"] > LARGE_BYTES


@pytest.mark.slow
def test_large_async_output_does_not_block_or_buffer(sidecar: Sidecar, execution: Execution) -> None:
    c = cronium.Cronium(socket=str(sidecar.socket), token=execution.token)
    total = 64 * MiB

    async def main() -> int:
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        t = asyncio.ensure_future(ticker())
        out = c.aio.stream_output()
        for rec in big_records(total):
            await out.write(rec)
        await out.aclose()
        done = True
        await t
        return ticks

    before = peak_rss()
    ticks = asyncio.run(main())
    assert peak_rss() - before < RSS_BUDGET
    # The writer waited for room by yielding to the loop, not by blocking it.
    assert ticks > 10
    assert sidecar.show(execution)["outputStream"]["bytes"] > total
