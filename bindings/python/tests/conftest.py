"""A real `cronium serve` on a temp socket and TCP port, and executions made with the
admin commands, as the orchestrator makes them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


class Sidecar:
    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.socket = dir / "run" / "rt.sock"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = dir / "sidecar.log"
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def command(self, *args: str) -> List[str]:
        return [str(cronium_bin()), "--state-dir", str(self.dir), *args]

    def env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONIUM_")}
        env["CRONIUM_TOKEN_SECRET"] = SECRET
        env["CRONIUM_LOG"] = "warn"
        return env

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(
                    "serve", "--socket", str(self.socket), "--listen", f"127.0.0.1:{self.port}"
                ),
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cronium serve exited: {self.log.read_text()}")
            try:
                with socket.socket(socket.AF_UNIX) as u:
                    u.connect(str(self.socket))
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"cronium serve did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

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
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    if not cronium_bin().exists():
        pytest.fail(
            f"{cronium_bin()} is missing: build it with `cargo build -p cronium-cli` "
            "(make test-python does)"
        )
    s = Sidecar(tmp_path_factory.mktemp("sidecar"))
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
