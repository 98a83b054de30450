"""A real `cronium serve` started by the test kit (tests/kit), and executions made with the
admin commands, as the orchestrator makes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

import cronium

SECRET = "python-test-secret-python-test-secret-01"
REPO = Path(__file__).resolve().parents[3]
ENV_VARS = (
    "CRONIUM_RUNTIME_SOCKET",
    "CRONIUM_RUNTIME_API",
    "CRONIUM_EXECUTION_TOKEN",
    "CRONIUM_EXECUTION_ID",
)


def cronium_bin() -> Path:
    explicit = os.environ.get("CRONIUM_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "cronium"


@dataclass
class Execution:
    id: str
    token: str
    user: str

    def env(self, sidecar: "Sidecar", *, tcp: bool = False) -> Dict[str, str]:
        """The environment a script of this execution gets."""
        env = {"CRONIUM_EXECUTION_TOKEN": self.token, "CRONIUM_EXECUTION_ID": self.id}
        if tcp:
            env["CRONIUM_RUNTIME_SOCKET"] = str(sidecar.dir / "absent.sock")
            env["CRONIUM_RUNTIME_API"] = sidecar.url
        else:
            env["CRONIUM_RUNTIME_SOCKET"] = str(sidecar.socket)
        return env


def testkit_bin() -> Path:
    """The test kit (tests/kit), the one launcher of test sidecars."""
    explicit = os.environ.get("CRONIUM_TESTKIT")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "cronium-testkit"


class Sidecar:
    """A sidecar started by the test kit; the kit removes its state dir when stopped."""

    def __init__(self) -> None:
        self.kit: Optional[subprocess.Popen[str]] = None
        self.dir = Path()
        self.socket = Path()
        self.url = ""
        self.port = 0
        #: Extra arguments of the kit (`--env NAME=VALUE` for the sidecar, `--config F`).
        self.kit_args: List[str] = []

    @property
    def log(self) -> Path:
        return self.dir / "rt.sock.log"

    def command(self, *args: str) -> List[str]:
        return [str(cronium_bin()), "--state-dir", str(self.dir), *args]

    def env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONIUM_")}
        env["CRONIUM_TOKEN_SECRET"] = SECRET
        env["CRONIUM_LOG"] = "warn"
        return env

    def start(self) -> None:
        self.kit = subprocess.Popen(
            [str(testkit_bin()), "--cronium", str(cronium_bin()), *self.kit_args],
            env=self.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.kit.stdout is not None
        line = self.kit.stdout.readline()
        if not line:
            raise RuntimeError(f"cronium-testkit exited ({self.kit.wait()}); see its stderr")
        info = json.loads(line)
        self.dir = Path(info["stateDir"])
        self.socket = Path(info["socket"])
        self.url = info["url"]
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        """Closing the kit's stdin stops the sidecar and removes the state dir."""
        if self.kit is not None:
            assert self.kit.stdin is not None
            self.kit.stdin.close()
            try:
                self.kit.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kit.kill()
                self.kit.wait()
            if self.kit.stdout is not None:
                self.kit.stdout.close()
            self.kit = None

    def admin(self, *args: str, input: Optional[bytes] = None) -> str:
        out = subprocess.run(
            self.command(*args), env=self.env(), input=input, capture_output=True, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(f"cronium {' '.join(args)} failed: {out.stderr.decode()}")
        return out.stdout.decode()

    def create(self, *args: str, user: Optional[str] = None) -> Execution:
        """`cronium executions create --json`, for a fresh user unless one is given."""
        user = user or f"u-{uuid.uuid4().hex[:12]}"
        doc = json.loads(self.admin("executions", "create", "--json", "--user", user, *args))
        return Execution(id=doc["id"], token=doc["token"], user=user)

    def output_stream(self, execution: Execution) -> List[Any]:
        text = self.admin("executions", "output-stream", execution.id)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def show(self, execution: Execution) -> Dict[str, Any]:
        doc: Dict[str, Any] = json.loads(self.admin("executions", "show", execution.id, "--json"))
        return doc


@pytest.fixture(scope="session")
def sidecar() -> Iterator[Sidecar]:
    for binary, build in ((cronium_bin(), "cronium-cli"), (testkit_bin(), "cronium-testkit")):
        if not binary.exists():
            pytest.fail(f"{binary} is missing: build it with `cargo build -p {build}` (make test-python does)")
    s = Sidecar()
    s.start()
    yield s
    s.stop()


def reset_module() -> None:
    """Forgets the module's client so the next call configures it from the environment."""
    c = cronium._default
    cronium._default = None
    if c is not None:
        w = getattr(c, "_out", None)
        if w is not None and w.is_open:
            w.abort()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No CRONIUM_* variables and a fresh module client."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    reset_module()
    yield monkeypatch
    reset_module()


@pytest.fixture
def execution(sidecar: Sidecar, clean_env: pytest.MonkeyPatch) -> Execution:
    """A fresh execution (of a fresh user) whose environment the module uses."""
    e = sidecar.create("--input", '{"n": 2, "name": "Ada"}', "--event", "py-test")
    for k, v in e.env(sidecar).items():
        clean_env.setenv(k, v)
    return e


@pytest.fixture
def client(sidecar: Sidecar, execution: Execution) -> cronium.Cronium:
    """An explicitly configured client of the `execution` fixture."""
    return cronium.Cronium(socket=str(sidecar.socket), token=execution.token)


def python_env(extra: Dict[str, str]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONIUM_")}
    env.update(extra)
    return env


def run_python(code: str, env: Dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=python_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
