"""`python -m cronium info`: the module, the transport the environment selects and whether
the runtime answers; the token is never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict

from conftest import Sidecar, python_env


def info(env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cronium", "info"],
        env=python_env(env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_info_with_a_running_sidecar(sidecar: Sidecar) -> None:
    e = sidecar.create()
    out = info(e.env(sidecar))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("cronium 0."), lines
    assert f"transport: unix:{sidecar.socket}" in lines
    assert "token: set (CRONIUM_EXECUTION_TOKEN)" in lines
    assert f"execution: {e.id}" in lines
    assert "runtime: answers (GET /health)" in lines
    assert e.token not in out.stdout + out.stderr


def test_info_over_tcp(sidecar: Sidecar) -> None:
    e = sidecar.create()
    out = info(e.env(sidecar, tcp=True))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"transport: {sidecar.url.rstrip('/')}" in out.stdout.splitlines()
    assert e.token not in out.stdout


def test_info_without_a_sidecar(tmp_path: Path) -> None:
    # A socket path nobody listens on, and no URL: no transport at all.
    out = info({"CRONIUM_RUNTIME_SOCKET": str(tmp_path / "absent.sock")})
    assert out.returncode == 1
    assert "transport: none: no Cronium runtime to talk to" in out.stdout
    assert "CRONIUM_RUNTIME_SOCKET names" in out.stdout
    assert "token: not set" in out.stdout
    assert "runtime: not asked (no transport)" in out.stdout

    # A socket file that exists but where no sidecar answers.
    dead = tmp_path / "dead.sock"
    dead.write_text("")
    out = info({"CRONIUM_RUNTIME_SOCKET": str(dead), "CRONIUM_EXECUTION_TOKEN": "secret-xyz"})
    assert out.returncode == 1
    assert f"transport: unix:{dead}" in out.stdout
    assert "runtime: does not answer: cannot connect to the runtime socket" in out.stdout
    assert "secret-xyz" not in out.stdout + out.stderr


def test_info_refuses_unknown_arguments() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cronium", "bogus"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "python -m cronium info" in out.stderr
