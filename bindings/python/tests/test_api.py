"""Every sync operation against a real sidecar, through the module-level functions (the
environment) and through an explicitly configured `Cronium`."""

from __future__ import annotations

import os
import warnings
from typing import Callable

import pytest

import cronium

from conftest import Execution, Sidecar


def test_import_is_cheap_and_side_effect_free(sidecar: Sidecar) -> None:
    from conftest import run_python

    out = run_python(
        "import sys, threading, cronium\n"
        "assert 'asyncio' not in sys.modules, 'asyncio imported'\n"
        "assert threading.active_count() == 1, threading.enumerate()\n"
        "assert cronium._default is None\n"
        "print('ok')\n",
        {},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_input_output_condition_context(execution: Execution, sidecar: Sidecar) -> None:
    assert cronium.input() == {"n": 2, "name": "Ada"}
    assert cronium.get_output() is None
    cronium.output({"ok": True, "n": 0})
    assert cronium.get_output() == {"ok": True, "n": 0}
    cronium.output([1, 2])  # last write wins
    assert cronium.get_output() == [1, 2]

    assert cronium.get_condition() is None
    cronium.set_condition(True)
    assert cronium.get_condition() is True
    cronium.set_condition(False)
    assert cronium.get_condition() is False
    # Refused before sending with the code every language gives; also a TypeError.
    with pytest.raises(TypeError) as wrong:
        cronium.set_condition(1)  # type: ignore[arg-type]
    assert isinstance(wrong.value, cronium.ValidationError)
    assert (wrong.value.code, wrong.value.status) == ("invalid_body", None)

    ctx = cronium.get_context()
    assert ctx["executionId"] == execution.id
    assert ctx["userId"] == execution.user
    assert ctx["eventName"] == "py-test"
    # The earlier names are aliases of the same call.
    assert cronium.event is cronium.get_context and cronium.context is cronium.get_context
    assert cronium.event() == ctx
    assert cronium.client().get_context() == ctx == cronium.client().event()

    shown = sidecar.show(execution)
    assert (shown["output"], shown["condition"]) == ([1, 2], False)


def test_variables(execution: Execution) -> None:
    assert cronium.get_variable("missing") is None
    assert cronium.get_variable("missing", 7) == 7
    assert cronium.get_variable_info("missing") is None

    v1 = cronium.set_variable("runs", 1)
    assert v1 == 1
    assert cronium.get_variable("runs") == 1
    assert cronium.set_variable("runs", 2) == 2
    info = cronium.get_variable_info("runs")
    assert info is not None
    assert (info.key, info.value, info.version) == ("runs", 2, 2)
    assert info.updated_at.endswith("Z")

    cronium.set_variable("other", "x")
    assert cronium.list_variables() == ["other", "runs"]
    assert cronium.delete_variable("other") is True
    assert cronium.delete_variable("other") is False
    assert cronium.list_variables() == ["runs"]


def test_unserialisable_values_are_type_errors_before_any_request(execution: Execution) -> None:
    with pytest.raises(TypeError, match="Object of type set"):
        cronium.set_variable("v", {1, 2})
    with pytest.raises(TypeError, match="not JSON compliant"):
        cronium.output({"x": float("nan")})
    assert cronium.get_variable("v") is None


def test_variable_handle(execution: Execution) -> None:
    runs = cronium.variable("runs")
    assert runs.key == "runs"
    assert runs.get() is None
    assert runs.get(0) == 0
    assert runs.set((runs.get(0)) + 1) == 1
    assert runs.get() == 1
    info = runs.info()
    assert info is not None and info.version == 1
    with pytest.raises(cronium.ConflictError):
        runs.set(5, if_version=7)
    assert runs.delete() is True
    assert runs.get() is None
    assert repr(runs) == "Variable('runs')"


def test_variables_belong_to_the_user(sidecar: Sidecar, execution: Execution) -> None:
    cronium.set_variable("shared", {"by": execution.id})
    later = sidecar.create(user=execution.user)
    other_user = sidecar.create()
    same = cronium.Cronium(socket=str(sidecar.socket), token=later.token)
    other = cronium.Cronium(socket=str(sidecar.socket), token=other_user.token)
    assert same.get_variable("shared") == {"by": execution.id}
    assert other.get_variable("shared") is None


def test_tool_actions_report_their_error(execution: Execution) -> None:
    calls = [
        lambda: cronium.execute_tool_action("slack", "slack-send-message", {"text": "hi"}),
        lambda: cronium.execute_tool_action("slack", "send-message", idempotency_key="k-1"),
        lambda: cronium.send_slack_message("hi", channel="#alerts"),
        lambda: cronium.send_discord_message("hi", username="bot"),
        lambda: cronium.send_email(["a@example.com"], "subject", "body", cc=["b@example.com"]),
    ]
    for call in calls:
        try:
            call()
        except cronium.ToolActionError as e:
            # The test user has no credential for any tool.
            assert (e.code, e.status) == ("tool_not_configured", 404), e
        else:  # pragma: no cover - once tools are configured for this user
            pytest.fail("no tool is configured for this user, the call cannot succeed")


def test_tool_action_validates_idempotency_key(execution: Execution) -> None:
    with pytest.raises(cronium.ValidationError) as err:
        cronium.execute_tool_action("slack", "send-message", {}, idempotency_key="bad\nkey")
    assert err.value.code == "invalid_header"


def test_explicit_client_over_socket_and_tcp(sidecar: Sidecar, execution: Execution) -> None:
    over_socket = cronium.Cronium(socket=str(sidecar.socket), token=execution.token)
    over_tcp = cronium.Cronium(url=sidecar.url, token=execution.token, timeout=5, max_retries=0)
    assert over_socket.endpoint == f"unix:{sidecar.socket}"
    assert over_tcp.endpoint == sidecar.url
    over_socket.set_variable("both", 1)
    assert over_tcp.get_variable("both") == 1
    assert over_tcp.input() == {"n": 2, "name": "Ada"}
    assert over_tcp.event()["executionId"] == execution.id
    assert execution.token not in repr(over_tcp)
    # Sequential calls reuse one keep-alive connection.
    for _ in range(20):
        over_socket.get_variable("both")
    assert over_socket.connections_opened == 1


def test_environment_with_tcp_fallback(sidecar: Sidecar, execution: Execution,
                                       clean_env: pytest.MonkeyPatch) -> None:
    for k, v in execution.env(sidecar, tcp=True).items():
        clean_env.setenv(k, v)
    assert cronium.client().endpoint == sidecar.url
    assert cronium.client().execution_id == execution.id
    assert cronium.input() == {"n": 2, "name": "Ada"}


def test_explicit_arguments_fall_back_to_the_environment(sidecar: Sidecar, execution: Execution) -> None:
    # Token from CRONIUM_EXECUTION_TOKEN, endpoint given.
    c = cronium.Cronium(url=sidecar.url)
    assert c.input() == {"n": 2, "name": "Ada"}
    # Endpoint from the environment, token given.
    other = sidecar.create("--input", "7")
    assert cronium.Cronium(token=other.token).input() == 7
    assert cronium.Cronium(timeout=3).token_expires_at is not None


def test_bad_configuration(sidecar: Sidecar, clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(cronium.ConfigError) as err:
        cronium.input()
    assert err.value.code == "not_configured"
    assert "CRONIUM_RUNTIME_SOCKET" in err.value.message
    with pytest.raises(cronium.ConfigError):
        cronium.Cronium(url="ftp://x", token="t")
    with pytest.raises(cronium.ConfigError):
        cronium.Cronium(url=sidecar.url, token="t", timeout=0)
    with pytest.raises(cronium.ConfigError):
        cronium.Cronium(url=sidecar.url)  # no token anywhere
    # Not cached: configuring the environment later works.
    e = sidecar.create("--input", '"later"')
    for k, v in e.env(sidecar).items():
        clean_env.setenv(k, v)
    assert cronium.input() == "later"


def test_no_input_is_empty_for_the_old_call_and_none_for_the_client(
    sidecar: Sidecar, clean_env: pytest.MonkeyPatch
) -> None:
    e = sidecar.create()
    for k, v in e.env(sidecar).items():
        clean_env.setenv(k, v)
    # The old helpers read a missing input.json as {}: old scripts index it directly.
    assert cronium.input() == {}
    assert cronium.input().get("name") is None
    # Today's client API says "no input" with None, as in every other language.
    assert cronium.client().input() is None
    assert cronium.Cronium(token=e.token).input() is None


def test_tool_convenience_calls_send_one_payload(sidecar: Sidecar, execution: Execution) -> None:
    """client-core builds the tool, action and params: Node's suite checks the same payloads."""
    import http.server
    import json
    import threading

    got: list[Any] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        for tool in ("slack", "discord"):
            config = {"webhook_url": f"{base}/hook/{tool}-secret-abcdefghijkl"}
            sidecar.admin("tools", "add", "--user", execution.user, "--tool", tool,
                          "--config", "-", input=json.dumps(config).encode())
        cronium.send_slack_message("hi", channel="#ops", username="bot", idempotency_key="py-1")
        cronium.client().send_slack_message("plain")
        cronium.send_discord_message("yo", username="bot")
        assert got == [
            {"text": "hi", "channel": "#ops", "username": "bot"},
            {"text": "plain"},
            {"content": "yo", "username": "bot"},
        ]
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(TypeError):
        cronium.send_email(5, "s", "b")  # type: ignore[arg-type]


def test_refresh_token_and_health(execution: Execution) -> None:
    before = cronium.client().token_expires_at
    assert before is not None
    cronium.refresh_token()
    assert cronium.client().token_expires_at is not None
    cronium.client().health()


def test_old_helper_names(execution: Execution) -> None:
    # The old helpers' answers, as Node's global `cronium` gives them.
    assert cronium.setVariable("old", {"a": 1}) is True
    assert cronium.getVariable("old") == {"a": 1}
    assert cronium.getVariable("never.set") is None
    assert cronium.setCondition(1) is True
    assert cronium.getCondition() is True
    assert cronium.setCondition("") is False
    assert cronium.getCondition() is False
    assert cronium.setCondition(True) is True
    assert cronium.input()["name"] == "Ada"
    assert cronium.event()["executionId"] == execution.id


def _exit_code_of_forked(child: Callable[[], int]) -> int:
    """Runs `child` in a forked process (its return value is the exit code, 99 when it
    raises); the child's exit code."""
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads (the child only
        # makes calls of its own).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 99
        try:
            code = child()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_fork_child_configures_anew(execution: Execution) -> None:
    cronium.set_variable("fork", 1)

    def child() -> int:  # pragma: no cover - runs in the child
        assert cronium._default is None
        cronium.set_variable("fork", 2)
        return 0

    assert _exit_code_of_forked(child) == 0
    assert cronium.get_variable("fork") == 2


def test_a_client_made_before_fork_refuses_in_the_child_and_keeps_working_in_the_parent(
    execution: Execution,
) -> None:
    c = cronium.Cronium(socket=os.environ["CRONIUM_RUNTIME_SOCKET"], token=execution.token)
    c.set_variable("forked", 1)  # a pooled connection the child inherits

    def child() -> int:  # pragma: no cover - runs in the child
        nonlocal c
        code = 0
        try:
            c.set_variable("forked", 2)
            code = 2  # it must refuse: its runtime belongs to the parent
        except cronium.CroniumError as e:
            if e.code != "runtime_context":
                code = 3
        except BaseException:
            code = 4
        # Dropping the inherited client must leave the parent's connections alone.
        del c
        import gc

        gc.collect()
        return code

    assert _exit_code_of_forked(child) == 0
    for i in range(3):
        c.set_variable("forked", 10 + i)
        assert c.get_variable("forked") == 10 + i


def test_teams_trello_sheets_calls_and_list_tools(sidecar: Sidecar, execution: Execution) -> None:
    """The convenience calls of the REST-API tools, and list_tools (never a secret)."""
    import http.server
    import json
    import threading

    got: list[Any] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "1")
            self.end_headers()
            self.wfile.write(b"1")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/webhookb2/teams-secret-abcdefghijkl"
        sidecar.admin("tools", "add", "--user", execution.user, "--tool", "teams",
                      "--config", "-", input=json.dumps({"webhookUrl": url}).encode())
        result = cronium.send_teams_message("deployed", title="CI", idempotency_key="py-t1")
        assert result["tool"] == "teams" and result["status"] == 200
        assert got[0]["title"] == "CI" and got[0]["sections"] == [{"text": "deployed"}]
        assert got[0]["@type"] == "MessageCard"
    finally:
        server.shutdown()
        server.server_close()
    tools = cronium.list_tools()
    assert {"tool": "teams", "credentials": ["default"],
            "actions": ["send-message", "send-card"]} in tools
    assert "teams-secret" not in json.dumps(tools)
    # No Trello or Google credential for this user: the calls reach the sidecar and say so.
    for call in (
        lambda: cronium.create_trello_card("list1", "Fix", desc="d"),
        lambda: cronium.append_sheet_rows("Log!A:B", [["a", 1]], spreadsheetId="s1"),
    ):
        with pytest.raises(cronium.ToolActionError) as err:
            call()
        assert err.value.code == "tool_not_configured", err.value
    # A bad param is named, before any credential is looked at? No: the credential first
    # (API.md's order), so the schema error needs one: teams has one.
    with pytest.raises(cronium.ToolActionError) as bad:
        cronium.send_teams_message("x", color=5)
    assert bad.value.code == "tool_params_invalid" and "color" in str(bad.value)
