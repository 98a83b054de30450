"""What the Python-driven interpreters share: the cases, the test kit, the comparison.

The Python interpreter (python/test_conformance.py) and the driver of the C and Bash
interpreters (drive.py) use this module; Rust and Node have their own copy of the same
few rules (README.md, "Checking a step").
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CASES_FILE = HERE / "cases.json"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


def kit_bin() -> Path:
    return Path(os.environ.get("CRONIUM_TESTKIT", target_dir() / "debug" / "cronium-testkit"))


def load_cases() -> List[Dict[str, Any]]:
    cases: List[Dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]
    return cases


class Kit:
    """A `cronium-testkit` process: one sidecar and one execution per case."""

    def __init__(self, specs: List[Dict[str, Any]]) -> None:
        binary = kit_bin()
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: build it with `cargo build -p cronium-testkit`")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(specs, f)
            spec_file = f.name
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONIUM_") or k == "CRONIUM_BIN"}
        try:
            self.proc = subprocess.Popen(
                [str(binary), "--executions", "@" + spec_file],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                text=True,
            )
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
        finally:
            os.unlink(spec_file)
        if not line:
            self.proc.wait()
            raise RuntimeError(f"cronium-testkit failed (exit {self.proc.returncode}); see its stderr")
        self.info: Dict[str, Any] = json.loads(line)
        self.socket: str = self.info["socket"]
        self.url: str = self.info["url"]
        self.executions: List[Dict[str, Any]] = self.info["executions"]

    def close(self) -> None:
        """Closing stdin stops the sidecar and removes its state dir."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_kit(cases: List[Dict[str, Any]]) -> Kit:
    return Kit([c["setup"] for c in cases])


def token_for(case: Dict[str, Any], execution: Dict[str, Any]) -> str:
    """The token a case runs with: its own (a deliberately bad one) or its execution's."""
    token: str = case.get("token", execution["token"])
    return token


def same(a: Any, b: Any) -> bool:
    """JSON equality with types kept apart (True is not 1, 1 is not 1.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


@dataclass
class Outcome:
    """What one step did: a result, or an error's fields (those the binding exposes)."""

    value: Any = None
    error: Optional[Dict[str, Any]] = None
    unsupported: Optional[str] = None
    notes: List[str] = field(default_factory=list)


def check(step: Dict[str, Any], got: Outcome) -> Optional[str]:
    """None when the step's expectation holds, else why not."""
    expect = step["expect"]
    if got.unsupported is not None:
        return f"{step['op']}: not expressible here ({got.unsupported}) but the case does not skip this language"
    if "error" in expect:
        want = expect["error"]
        if got.error is None:
            return f"{step['op']}: expected error {want}, got value {got.value!r}"
        for k, v in want.items():
            if k in got.error and not same(got.error[k], v):
                return f"{step['op']}: error {k} is {got.error[k]!r}, expected {v!r} (error {got.error})"
        if "code" not in got.error:
            return f"{step['op']}: the error has no code: {got.error}"
        return None
    if got.error is not None:
        return f"{step['op']}: unexpected error {got.error}"
    if "value" in expect and not same(got.value, expect["value"]):
        return f"{step['op']}: got {got.value!r}, expected {expect['value']!r}"
    if "contains" in expect:
        want = expect["contains"]
        if not isinstance(got.value, dict):
            return f"{step['op']}: got {got.value!r}, expected an object containing {want!r}"
        for k, v in want.items():
            if k not in got.value or not same(got.value[k], v):
                return f"{step['op']}: field {k} is {got.value.get(k, '<missing>')!r}, expected {v!r}"
    return None


def skip_reason(case: Dict[str, Any], lang: str) -> Optional[str]:
    reason: Optional[str] = case.get("pending") or case.get("skip", {}).get(lang)
    return reason
