"""A small orchestrator, as Cronium's would be: it drives one sidecar through the admin API
only (stdlib http.client over the admin Unix socket), runs 20 executions at once, each a
real script using this module with the token it was handed, finishes each with its exit
code and checks what each did (issue 14). The scripts run in containers of the
`cronium/python` image when a Docker engine answers and the image is built (`make images`,
which `make test` runs first), else as processes; the test prints which."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import cronium

from conftest import Sidecar

ADMIN_SECRET = "orchestrator-test-admin-secret-0123456789"
JOBS = 20
IMAGE = "cronium/python:latest"

SCRIPT = """
import sys
import cronium

n = cronium.input()["n"]
cronium.output({"square": n * n, "job": cronium.context().get("executionId")})
cronium.set_variable(f"seen-{n}", n)
cronium.set_condition(n % 2 == 0)
sys.exit(n % 3)
"""


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket."""

    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=60)
        self._path = str(path)

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(self._path)
        self.sock = s


class Orchestrator:
    """Everything it knows of the runtime is the admin socket and the admin secret."""

    def __init__(self, admin_socket: Path, secret: str) -> None:
        self.socket = admin_socket
        self.secret = secret

    def call(self, method: str, path: str, body: Optional[Any] = None) -> Tuple[int, Any]:
        conn = UnixHTTPConnection(self.socket)
        try:
            headers = {"Authorization": f"Bearer {self.secret}"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def ok(self, method: str, path: str, body: Optional[Any] = None) -> Any:
        status, doc = self.call(method, path, body)
        assert status == 200, f"{method} {path}: {status} {doc}"
        return doc["data"]


class AdminSidecar(Sidecar):
    """A kit sidecar with the admin API on: its secret in a file (never in argv)."""

    def __init__(self, secret_file: Path) -> None:
        super().__init__()
        secret_file.write_text(ADMIN_SECRET + "\n")
        secret_file.chmod(0o600)
        self.kit_args = ["--env", f"CRONIUM_ADMIN_SECRET_FILE={secret_file}"]

    @property
    def admin_socket(self) -> Path:
        return self.dir / "admin" / "admin.sock"


@pytest.fixture(scope="module")
def admin_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdminSidecar]:
    s = AdminSidecar(tmp_path_factory.mktemp("admin") / "admin.secret")
    s.start()
    deadline = time.monotonic() + 10
    while not s.admin_socket.exists():
        assert time.monotonic() < deadline, "the admin socket never appeared"
        time.sleep(0.02)
    yield s
    s.stop()


def container_engine() -> Optional[str]:
    """The docker command when an engine answers and the Python image is there, else None."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "image", "inspect", IMAGE], capture_output=True, timeout=60)
    return docker if probe.returncode == 0 else None


def run_script(
    sidecar: AdminSidecar, job_id: str, token: str, workdir: Path, docker: Optional[str]
) -> "subprocess.CompletedProcess[str]":
    """Runs SCRIPT as the job, with only the script socket and its token."""
    if docker is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRONIUM_")}
        env.update(
            {
                "CRONIUM_RUNTIME_SOCKET": str(sidecar.socket),
                "CRONIUM_EXECUTION_TOKEN": token,
                "CRONIUM_EXECUTION_ID": job_id,
            }
        )
        return subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
        )
    # The token goes in a 0600 env file, never in docker's argv; only the socket file is
    # mounted (not the state directory, which holds the admin socket), and the script runs
    # as the socket's owner, with no network and no capabilities.
    env_file = workdir / f"{job_id}.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            f"CRONIUM_RUNTIME_SOCKET=/run/cronium/rt.sock\n"
            f"CRONIUM_EXECUTION_TOKEN={token}\nCRONIUM_EXECUTION_ID={job_id}\n"
        )
    try:
        return subprocess.run(
            [
                docker, "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--user", f"{os.getuid()}:{os.getgid()}",
                "-v", f"{sidecar.socket}:/run/cronium/rt.sock", "--env-file", str(env_file),
                IMAGE, "python3", "-c", SCRIPT,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        env_file.unlink()


def run_job(
    orch: Orchestrator,
    sidecar: AdminSidecar,
    run: str,
    n: int,
    workdir: Path,
    docker: Optional[str],
) -> Dict[str, Any]:
    job_id = f"orch-{run}-{n}"
    user = f"team-{run}-{n % 4}"
    created = orch.ok(
        "POST",
        "/admin/v1/executions",
        {"id": job_id, "user": user, "event": "square", "input": {"n": n}, "lifetime": "10m"},
    )
    assert created["id"] == job_id and created["created"] is True
    proc = run_script(sidecar, job_id, created["token"], workdir, docker)
    assert proc.returncode == n % 3, f"{job_id} exited {proc.returncode}: {proc.stderr}"
    finished = orch.ok("POST", f"/admin/v1/executions/{job_id}/finish", {"exitCode": proc.returncode})
    shown = orch.ok("GET", f"/admin/v1/executions/{job_id}")
    value = orch.ok("GET", f"/admin/v1/users/{user}/variables/seen-{n}")
    return {
        "n": n,
        "id": job_id,
        "token": created["token"],
        "returncode": proc.returncode,
        "stderr": proc.stderr,
        "finished": finished,
        "shown": shown,
        "variable": value["value"],
    }


def test_an_orchestrator_runs_20_executions_at_once_through_the_admin_api(
    admin_sidecar: AdminSidecar, tmp_path: Path
) -> None:
    orch = Orchestrator(admin_sidecar.admin_socket, ADMIN_SECRET)
    run = uuid.uuid4().hex[:8]
    docker = container_engine()
    print(f"the scripts run {'in containers of ' + IMAGE if docker else 'as processes'}")
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        results = list(
            pool.map(lambda n: run_job(orch, admin_sidecar, run, n, tmp_path, docker), range(JOBS))
        )

    assert len(results) == JOBS
    for r in results:
        n = r["n"]
        assert r["returncode"] == n % 3, r["stderr"]
        assert r["finished"]["status"] == "finished"
        assert r["finished"]["exitCode"] == n % 3
        assert r["finished"]["outcome"] == ("succeeded" if n % 3 == 0 else "failed")
        shown = r["shown"]
        assert shown["status"] == "finished"
        assert shown["output"] == {"square": n * n, "job": r["id"]}
        assert shown["condition"] is (n % 2 == 0)
        assert shown["input"] == {"n": n}
        assert shown["startedAt"] is not None
        assert r["variable"] == n

    # Every job is listed as finished, and paging walks them all exactly once.
    seen = []
    cursor: Optional[str] = None
    while True:
        q = "/admin/v1/executions?status=finished&limit=7"
        if cursor:
            q += f"&cursor={cursor}"
        page = orch.ok("GET", q)
        seen += [i["id"] for i in page["items"] if i["id"].startswith(f"orch-{run}-")]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(r["id"] for r in results)

    # A finished job's token is refused, through the module, with the stable code.
    done = results[0]
    client = cronium.Cronium(socket=str(admin_sidecar.socket), token=done["token"])
    deadline = time.monotonic() + 5
    while True:
        try:
            client.input()
        except cronium.CroniumError as e:
            assert e.code == "execution_finished", e
            break
        assert time.monotonic() < deadline, "the finished job's token still works"
        time.sleep(0.05)

    # Finishing twice is refused and changes nothing.
    status, doc = orch.call("POST", f"/admin/v1/executions/{done['id']}/finish", {"exitCode": 9})
    assert status == 410 and doc["error"]["code"] == "execution_finished"


def test_the_admin_api_refuses_script_tokens_and_wrong_secrets(admin_sidecar: AdminSidecar) -> None:
    orch = Orchestrator(admin_sidecar.admin_socket, ADMIN_SECRET)
    created = orch.ok("POST", "/admin/v1/executions", {"user": "mallory"})
    as_script = Orchestrator(admin_sidecar.admin_socket, created["token"])
    status, doc = as_script.call("GET", "/admin/v1/executions")
    assert (status, doc["error"]["code"]) == (403, "script_token_refused")
    wrong = Orchestrator(admin_sidecar.admin_socket, "not-the-admin-secret-at-all")
    status, doc = wrong.call("GET", "/admin/v1/executions")
    assert (status, doc["error"]["code"]) == (401, "admin_unauthorized")
    # And the admin secret is no script token.
    client = cronium.Cronium(socket=str(admin_sidecar.socket), token=ADMIN_SECRET)
    with pytest.raises(cronium.CroniumError) as err:
        client.input()
    assert err.value.code == "admin_credential_refused"
