"""The conformance cases (../cases.json) on the Python module `cronium`, against one
sidecar started by the test kit. One test per case; cases Python cannot express are
skipped with the reason the case file gives."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import conformance as conf  # noqa: E402

import cronium  # noqa: E402

CASES = conf.load_cases()


@pytest.fixture(scope="module")
def kit() -> Iterator[conf.Kit]:
    k = conf.start_kit(CASES)
    yield k
    k.close()


def run_step(c: cronium.Cronium, op: str, args: Dict[str, Any]) -> Any:
    """One language-neutral operation on the Python client (README.md's table)."""
    if op == "input":
        return c.input()
    if op == "output":
        return c.output(args["value"])
    if op == "get_output":
        return c.get_output()
    if op == "get_variable":
        if "default" in args:
            return c.get_variable(args["key"], args["default"])
        return c.get_variable(args["key"])
    if op == "get_variable_info":
        info = c.get_variable_info(args["key"])
        return None if info is None else {"value": info.value, "version": info.version}
    if op == "set_variable":
        return c.set_variable(args["key"], args["value"], if_version=args.get("if_version"))
    if op == "delete_variable":
        return c.delete_variable(args["key"], if_version=args.get("if_version"))
    if op == "list_variables":
        return c.list_variables()
    if op == "set_condition":
        return c.set_condition(args["value"])
    if op == "get_condition":
        return c.get_condition()
    if op == "context":
        return c.get_context()
    if op == "stream_input":
        return list(c.stream_input())
    if op == "stream_output":
        w = c.stream_output()
        for r in args["records"]:
            w.write(r)
        s = w.close()
        return {"records": s.records, "bytes": s.bytes}
    if op == "execute_tool_action":
        return c.execute_tool_action(args["tool"], args["action"], args.get("params"))
    raise NotImplementedError(op)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c["name"] for c in CASES])
def test_case(kit: conf.Kit, index: int) -> None:
    case = CASES[index]
    reason = conf.skip_reason(case, "python")
    if reason:
        pytest.skip(reason)
    execution = kit.executions[index]
    c = cronium.Cronium(socket=kit.socket, token=conf.token_for(case, execution))
    for step in case["steps"]:
        got = conf.Outcome()
        try:
            got.value = run_step(c, step["op"], step.get("args", {}))
        except NotImplementedError as e:
            got.unsupported = str(e)
        except cronium.CroniumError as e:
            got.error = {"code": e.code, "kind": e.kind, "status": e.status, "retryable": e.retryable}
        failure = conf.check(step, got)
        assert failure is None, failure
