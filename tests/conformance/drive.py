#!/usr/bin/env python3
"""Runs the conformance cases on the C library or the Bash helpers.

    drive.py c DRIVER        DRIVER: the compiled c/driver.c (one operation per stdin line)
    drive.py bash            the cronium_* helpers of bindings/bash/cronium.sh, on curl, or
                             on the forkless builtin when CRONIUM_BUILTIN names it

Python only reads the cases, starts the test kit and compares; every call goes through
the binding under test. Prints one line per case and "LANG: N passed, N failed, N skipped".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

import conformance as conf

BASH_HELPERS = conf.REPO / "bindings" / "bash" / "cronium.sh"


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class CDriver:
    """The C driver: `OP<TAB>ARG...` in, `ok<TAB>JSON` or `err<TAB>KIND<TAB>CODE` out."""

    def __init__(self, path: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONIUM_")}
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def send(self, *fields: str) -> conf.Outcome:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        for f in fields:
            if "\t" in f or "\n" in f:
                return conf.Outcome(unsupported="an argument holds a tab or newline")
        self.proc.stdin.write("\t".join(fields) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the C driver exited ({self.proc.wait()})")
        parts = line.rstrip("\n").split("\t")
        if parts[0] == "ok":
            return conf.Outcome(value=json.loads(parts[1]))
        if parts[0] == "missing":
            return conf.Outcome(value=None, notes=["missing"])
        if parts[0] == "err":
            return conf.Outcome(error={"kind": parts[1], "code": parts[2]})
        if parts[0] == "unsupported":
            return conf.Outcome(unsupported=parts[1])
        raise RuntimeError(f"the C driver answered {line!r}")

    def client(self, socket: str, token: str) -> None:
        got = self.send("client", socket, token)
        if got.error:
            raise RuntimeError(f"cronium_client_new failed: {got.error}")

    def run(self, op: str, args: Dict[str, Any]) -> conf.Outcome:
        if op == "get_variable":
            got = self.send(op, args["key"])
            if "missing" in got.notes:
                got.value = args.get("default")
            return got
        if op == "set_variable":
            if args.get("if_version") == 0:
                return conf.Outcome(unsupported="if_version 0")
            return self.send(op, args["key"], compact(args["value"]), str(args.get("if_version") or 0))
        if op == "delete_variable":
            if "if_version" in args:
                return conf.Outcome(unsupported="cronium_variable_delete takes no if_version")
            return self.send(op, args["key"])
        if op in ("get_variable_info",):
            return self.send(op, args["key"])
        if op == "output":
            return self.send(op, compact(args["value"]))
        if op == "set_condition":
            if not isinstance(args["value"], bool):
                return conf.Outcome(unsupported="a condition that is not a bool")
            return self.send(op, "true" if args["value"] else "false")
        if op == "stream_output":
            return self.send(op, *[compact(r) for r in args["records"]])
        if op == "execute_tool_action":
            return self.send(op, args["tool"], args["action"], compact(args.get("params", {})))
        return self.send(op)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()


class Bash:
    """Each step in a fresh `bash` that sources cronium.sh, as a script would."""

    def __init__(self) -> None:
        self.env: Dict[str, str] = {}

    def client(self, socket: str, token: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONIUM_")}
        env["CRONIUM_RUNTIME_SOCKET"] = socket
        env["CRONIUM_EXECUTION_TOKEN"] = token
        if os.environ.get("CRONIUM_BUILTIN"):
            env["CRONIUM_BUILTIN"] = os.environ["CRONIUM_BUILTIN"]
        self.env = env

    def call(self, code: str, *args: str, stdin: str = "") -> conf.Outcome:
        p = subprocess.run(
            ["bash", "-c", 'set -euo pipefail; source "$0"; ' + code, str(BASH_HELPERS), *args],
            env=self.env, input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )
        if p.returncode != 0:
            # FUNCTION: CODE: MESSAGE, one line.
            parts = p.stderr.strip().split(": ", 2)
            code_ = parts[1] if len(parts) >= 2 else f"<no error line: {p.stderr.strip()!r}>"
            return conf.Outcome(error={"code": code_})
        return conf.Outcome(value=p.stdout)

    def run(self, op: str, args: Dict[str, Any]) -> conf.Outcome:
        def json_out(o: conf.Outcome) -> conf.Outcome:
            if o.error is None:
                o.value = json.loads(o.value)
            return o

        def lines_out(o: conf.Outcome, parse: bool) -> conf.Outcome:
            if o.error is None:
                lines = [line for line in o.value.split("\n") if line != ""]
                o.value = [json.loads(line) for line in lines] if parse else lines
            return o

        def nothing(o: conf.Outcome) -> conf.Outcome:
            if o.error is None:
                if o.value != "":
                    o.error = {"code": f"<unexpected output {o.value!r}>"}
                o.value = None
            return o

        if op in ("set_variable", "delete_variable") and "if_version" in args:
            return conf.Outcome(unsupported="if_version")
        if op == "input":
            return json_out(self.call("cronium_input"))
        if op == "output":
            return nothing(self.call('cronium_output "$1"', compact(args["value"])))
        if op == "get_variable":
            if "default" in args:
                return json_out(self.call('cronium_get_variable "$1" "$2"', args["key"], compact(args["default"])))
            return json_out(self.call('cronium_get_variable "$1"', args["key"]))
        if op == "set_variable":
            return nothing(self.call('cronium_set_variable "$1" "$2"', args["key"], compact(args["value"])))
        if op == "delete_variable":
            return nothing(self.call('cronium_delete_variable "$1"', args["key"]))
        if op == "list_variables":
            return lines_out(self.call("cronium_list_variables"), parse=False)
        if op == "set_condition":
            v = args["value"]
            text = ("true" if v else "false") if isinstance(v, bool) else str(v)
            return nothing(self.call('cronium_set_condition "$1"', text))
        if op == "get_condition":
            return json_out(self.call("cronium_get_condition"))
        if op == "context":
            return json_out(self.call("cronium_get_context"))
        if op == "stream_input":
            return lines_out(self.call("cronium_stream_input"), parse=True)
        if op == "stream_output":
            body = "".join(compact(r) + "\n" for r in args["records"])
            return nothing(self.call("cronium_stream_output", stdin=body))
        if op == "execute_tool_action":
            return json_out(self.call('cronium_execute_tool_action "$1" "$2" "$3"', args["tool"], args["action"], compact(args.get("params", {}))))
        return conf.Outcome(unsupported=f"no Bash helper for {op}")

    def close(self) -> None:
        pass


def main(argv: List[str]) -> int:
    lang = argv[1] if len(argv) > 1 else ""
    if lang == "c" and len(argv) == 3:
        runner: Any = CDriver(argv[2])
        label = "c"
    elif lang == "bash" and len(argv) == 2:
        runner = Bash()
        label = "bash (builtin)" if os.environ.get("CRONIUM_BUILTIN") else "bash (curl)"
    else:
        print(__doc__, file=sys.stderr)
        return 2
    # A skip for one Bash mode ("bash-curl", "bash-builtin") or for both ("bash").
    modes = [("bash-builtin" if os.environ.get("CRONIUM_BUILTIN") else "bash-curl"), "bash"] if lang == "bash" else [lang]
    cases = conf.load_cases()
    kit = conf.start_kit(cases)
    passed = failed = skipped = 0
    try:
        for case, execution in zip(cases, kit.executions):
            reason = next((r for r in (conf.skip_reason(case, m) for m in modes) if r), None)
            if reason:
                skipped += 1
                print(f"skip  {case['name']}: {reason}")
                continue
            runner.client(kit.socket, conf.token_for(case, execution))
            failure: Optional[str] = None
            for step in case["steps"]:
                got = runner.run(step["op"], step.get("args", {}))
                failure = conf.check(step, got)
                if failure:
                    break
            if failure:
                failed += 1
                print(f"FAIL  {case['name']}: {failure}")
            else:
                passed += 1
                print(f"ok    {case['name']}")
    finally:
        runner.close()
        kit.close()
    print(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
