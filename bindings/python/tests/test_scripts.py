"""Scripts as Cronium runs them: separate interpreters with the environment a script gets,
old-style scripts (camelCase helpers, no import), and `cronium run` itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Execution, Sidecar, cronium_bin, python_env, run_python

OLD_STYLE = """
data = cronium.input()
n = cronium.getVariable("runs") or 0
cronium.setVariable("runs", n + 1)
cronium.setCondition(data["total"] > 100)
cronium.output({"id": data["id"], "runs": n + 1, "event": cronium.event()["eventName"]})
print("done", n + 1)
"""

# What the runner puts first on PYTHONPATH (runner/src/lang.rs), reduced to its
# effect: `cronium` is a builtin when the module is installed.
SITECUSTOMIZE = """
try:
    import builtins, cronium
    builtins.cronium = cronium
except ImportError:
    pass
"""


def test_module_script_in_its_own_interpreter(sidecar: Sidecar) -> None:
    e = sidecar.create("--input", '{"id": 1, "total": 150}', "--event", "orders")
    out = run_python("import cronium\n" + OLD_STYLE, e.env(sidecar))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "done 1\n"
    shown = sidecar.show(e)
    assert shown["output"] == {"id": 1, "runs": 1, "event": "orders"}
    assert shown["condition"] is True


def test_old_style_script_without_import(sidecar: Sidecar, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    e = sidecar.create("--input", '{"id": 2, "total": 5}')
    env = {**e.env(sidecar), "PYTHONPATH": str(site)}
    script = tmp_path / "old.py"
    script.write_text(OLD_STYLE)
    out = subprocess.run([sys.executable, str(script)], env=python_env(env),
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    shown = sidecar.show(e)
    assert shown["output"]["id"] == 2
    assert shown["condition"] is False


def test_script_errors_are_readable(sidecar: Sidecar) -> None:
    e = sidecar.create("--scope", "input:read")
    out = run_python("import cronium\ncronium.set_variable('x', 1)\n", e.env(sidecar))
    assert out.returncode == 1
    assert "cronium._errors.AuthError: scope_insufficient:" in out.stderr
    assert e.token not in out.stderr


def run_available() -> bool:
    if not cronium_bin().exists():
        return False
    probe = subprocess.run([str(cronium_bin()), "run", "--help"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not run_available(), reason="`cronium run` is not built into this cronium binary yet")
def test_old_style_script_under_cronium_run(tmp_path: Path) -> None:
    script = tmp_path / "old.py"
    script.write_text(OLD_STYLE)
    env = python_env({"CRONIUM_PYTHON": sys.executable})
    cmd = [str(cronium_bin()), "--state-dir", str(tmp_path / "state"), "run", str(script),
           "--input", '{"id": 3, "total": 101}', "--json"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["exitCode"] == 0
    assert report["output"] == {"id": 3, "runs": 1, "event": "old.py"}
    assert report["condition"] is True
    assert report["stdout"] == "done 1\n"
    # Variables belong to the user: the next run sees the first one's write.
    second = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                       timeout=120, check=True).stdout)
    assert second["output"]["runs"] == 2


@pytest.mark.skipif(not run_available(), reason="`cronium run` is not built into this cronium binary yet")
def test_streaming_script_under_cronium_run(tmp_path: Path) -> None:
    records = tmp_path / "in.ndjson"
    records.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(100)))
    script = tmp_path / "stream.py"
    script.write_text(
        "import asyncio, cronium\n"
        "async def main():\n"
        "    async for record in cronium.stream_input():\n"
        "        await cronium.stream_output({'double': record['n'] * 2})\n"
        "asyncio.run(main())\n"
    )
    env = python_env({"CRONIUM_PYTHON": sys.executable})
    out = subprocess.run(
        [str(cronium_bin()), "--state-dir", str(tmp_path / "state"), "run", str(script),
         "--input-stream", str(records), "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["exitCode"] == 0, report
    assert report["inputStream"]["records"] == 100
    assert report["outputStream"]["records"] == 100


@pytest.mark.skipif(not run_available(), reason="`cronium run` is not built into this cronium binary yet")
def test_a_script_idle_past_its_token_lifetime_carries_on(tmp_path: Path) -> None:
    # Tokens live 2 s with no leeway, and the script sleeps 4 s between two calls: its
    # token expired meanwhile and the API no longer refreshes it, so the second call
    # takes the token `cronium run` keeps fresh in CRONIUM_EXECUTION_TOKEN_FILE.
    script = tmp_path / "idle.py"
    script.write_text(
        "import time, cronium\n"
        "cronium.set_variable('idle', 1)\n"
        "time.sleep(4)\n"
        "cronium.output({'idle': cronium.get_variable('idle')})\n"
    )
    env = python_env({"CRONIUM_PYTHON": sys.executable, "CRONIUM_TOKEN_TTL": "2s",
                      "CRONIUM_TOKEN_LEEWAY": "0"})
    out = subprocess.run(
        [str(cronium_bin()), "--state-dir", str(tmp_path / "state"), "run", str(script), "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["exitCode"] == 0, report
    assert report["output"] == {"idle": 1}


def test_exit_with_an_active_subscription_and_a_blocked_thread(sidecar: Sidecar) -> None:
    e = sidecar.create()
    code = (
        "import threading, cronium\n"
        "cronium.variable('a').subscribe(print)\n"
        "w = cronium.watch_variable('b')\n"
        "threading.Thread(target=lambda: list(w), daemon=True).start()\n"
        "print('bye')\n"
    )
    out = run_python(code, e.env(sidecar), timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "bye\n"
    assert out.stderr == ""


def test_ctrl_c_interrupts_a_waiting_watch(sidecar: Sidecar) -> None:
    import signal
    import time

    e = sidecar.create()
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import cronium\nw = cronium.watch_variable('never')\nprint('waiting', flush=True)\nnext(w)\n"],
        env=python_env(e.env(sidecar)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # As from a terminal: a shell starts background jobs with SIGINT ignored, and a
        # Python started so never installs its KeyboardInterrupt handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "waiting\n"
    time.sleep(0.2)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert time.monotonic() - started < 2
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
