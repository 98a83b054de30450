"""Each error class: from the real sidecar where it can produce it, else from a small
HTTP server that answers what a test tells it to."""

from __future__ import annotations

import json
import pickle
import threading
import time
import typing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, Optional, Tuple, Type

import pytest

import cronium
from cronium import _errors, _native

from conftest import Execution, Sidecar


class Scripted:
    """An HTTP server whose every answer is (status, headers, body, delay)."""

    def __init__(self) -> None:
        self.answer: Tuple[int, Dict[str, str], bytes, float] = (200, {}, b'{"data":null}', 0.0)
        self.requests = 0
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                scripted.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, headers, body, delay = scripted.answer
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None,
            delay: float = 0.0) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answer = (status, {"Content-Type": "application/json", **(headers or {})}, raw, delay)

    def client(self, **kw: Any) -> cronium.Cronium:
        kw.setdefault("max_retries", 0)
        return cronium.Cronium(url=self.url, token="t", **kw)


@pytest.fixture(scope="module")
def scripted() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.server.shutdown()
    s.server.server_close()


def error(code: str, message: str = "m") -> Dict[str, Any]:
    return {"error": {"code": code, "message": message}}


@pytest.mark.parametrize(
    "status, code, cls, retryable",
    [
        (401, "token_expired", cronium.AuthError, False),
        (403, "scope_insufficient", cronium.AuthError, False),
        (404, "route_not_found", cronium.NotFoundError, False),
        (409, "version_conflict", cronium.ConflictError, False),
        (400, "invalid_body", cronium.ValidationError, False),
        (413, "body_too_large", cronium.ValidationError, False),
        (429, "rate_limited", cronium.RateLimitedError, True),
        (503, "storage_unavailable", cronium.UnavailableError, True),
        (504, "gateway_timeout", cronium.CroniumTimeoutError, True),
        (501, "token_cannot_mint", cronium.InternalError, False),
        # A code this client does not know: the ``tool_`` prefix decides, then the status.
        (500, "tool_new_failure", cronium.ToolActionError, False),
        (429, "quota_exceeded", cronium.RateLimitedError, True),
        (502, "tool_upstream_failed", cronium.ToolActionError, True),
        (500, "internal", cronium.InternalError, False),
        (405, "method_not_allowed", cronium.ProtocolError, False),
    ],
)
def test_statuses_map_to_classes(scripted: Scripted, status: int, code: str,
                                 cls: Type[cronium.CroniumError], retryable: bool) -> None:
    scripted.set(status, error(code, "what went wrong"), {"x-request-id": "req-7"})
    with pytest.raises(cls) as err:
        scripted.client().list_variables()
    e = err.value
    assert isinstance(e, cronium.CroniumError)
    assert (e.code, e.status, e.retryable) == (code, status, retryable)
    assert e.message == "what went wrong"
    assert e.request_id == "req-7"
    assert str(e) == f"{code}: what went wrong"
    assert e.kind == cls.kind


def test_rate_limit_carries_retry_after(scripted: Scripted) -> None:
    scripted.set(429, error("rate_limited"), {"Retry-After": "30"})
    with pytest.raises(cronium.RateLimitedError) as err:
        scripted.client().list_variables()
    assert err.value.retry_after == 30.0


def test_answer_this_client_cannot_read_is_a_protocol_error(scripted: Scripted) -> None:
    scripted.set(200, b"not json at all")
    with pytest.raises(cronium.ProtocolError) as err:
        scripted.client().list_variables()
    assert err.value.code == "protocol_error"


def test_timeout_is_also_a_builtin_timeout_error(scripted: Scripted) -> None:
    scripted.set(200, {"data": []}, delay=1.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as err:
        scripted.client(timeout=0.2).list_variables()
    assert time.monotonic() - started < 0.9
    assert isinstance(err.value, cronium.CroniumTimeoutError)
    assert err.value.code == "timeout"
    assert err.value.retryable is True
    time.sleep(1.0)  # let the server finish the slow answer


def test_unreachable_runtime_is_unavailable(tmp_path: Any) -> None:
    c = cronium.Cronium(socket=str(tmp_path / "nothing.sock"), token="t", max_retries=0)
    with pytest.raises(cronium.UnavailableError) as err:
        c.get_variable("k")
    assert err.value.code == "connection_failed"
    assert err.value.status is None
    assert err.value.retryable is True


def test_real_sidecar_auth_errors(sidecar: Sidecar, execution: Execution) -> None:
    bad = cronium.Cronium(socket=str(sidecar.socket), token="not-a-jwt")
    with pytest.raises(cronium.AuthError) as err:
        bad.input()
    assert (err.value.code, err.value.status) == ("token_malformed", 401)
    assert "not-a-jwt" not in str(err.value)

    read_only = sidecar.create("--scope", "input:read,variables:read")
    c = cronium.Cronium(socket=str(sidecar.socket), token=read_only.token)
    assert c.get_variable("x") is None
    with pytest.raises(cronium.AuthError) as err:
        c.set_variable("x", 1)
    assert (err.value.code, err.value.status) == ("scope_insufficient", 403)


def test_real_sidecar_rejects_a_too_large_value(sidecar: Sidecar, execution: Execution) -> None:
    # The sidecar answers 413 and closes while the 11 MiB body is still being written;
    # client-core reports that as 413 when it reads the answer, and as a broken
    # connection when the write fails first (a known client-core gap, reported).
    with pytest.raises((cronium.ValidationError, cronium.UnavailableError)) as err:
        cronium.set_variable("big", "x" * (11 << 20))
    assert err.value.code in ("body_too_large", "connection_failed")
    assert cronium.get_variable("big") is None


def test_errors_pickle(scripted: Scripted) -> None:
    scripted.set(409, error("version_conflict", "stored version is 4"))
    with pytest.raises(cronium.ConflictError) as err:
        scripted.client().list_variables()
    back = pickle.loads(pickle.dumps(err.value))
    assert type(back) is cronium.ConflictError
    assert (back.code, back.status, back.message) == ("version_conflict", 409, "stored version is 4")


def test_class_hierarchy() -> None:
    for cls in (cronium.AuthError, cronium.NotFoundError, cronium.ConflictError,
                cronium.ValidationError, cronium.RateLimitedError, cronium.UnavailableError,
                cronium.CroniumTimeoutError, cronium.ToolActionError, cronium.ConfigError,
                cronium.ProtocolError, cronium.InternalError):
        assert issubclass(cls, cronium.CroniumError)
    assert issubclass(cronium.CroniumTimeoutError, TimeoutError)
    assert issubclass(cronium.CroniumTypeError, cronium.ValidationError)
    assert issubclass(cronium.CroniumTypeError, TypeError)


def test_all_errors() -> None:
    """The ``ErrorCode`` Literal is the protocol's list; on drift, print the one to paste
    (pydantic-core's test_all_errors)."""
    native = [row[0] for row in _native.ERROR_CODES]
    literal = list(typing.get_args(_errors.ErrorCode))
    if native != literal:
        print("ErrorCode = Literal[\n" + "".join(f'    "{c}",\n' for c in native) + "]")
        pytest.fail("cronium/_errors.py ErrorCode differs from the protocol crate: "
                    "paste the Literal printed above")
    assert list(cronium.ERROR_CODES) == native


def test_every_code_has_its_class() -> None:
    for code, info in cronium.ERROR_CODES.items():
        cls = _errors._BY_KIND.get(info.kind)
        assert cls is not None, f"no exception class for kind {info.kind!r} (code {code})"
        exc = _errors._from_native(info.kind, code, "m", info.status, info.retryable, None, None)
        assert type(exc) is cls and exc.code == code


@pytest.mark.parametrize(
    "code", [c for c, info in cronium.ERROR_CODES.items() if info.status is not None])
def test_every_server_code_raises_its_class(scripted: Scripted, code: str) -> None:
    info = cronium.ERROR_CODES[code]
    assert info.status is not None
    scripted.set(info.status, error(code))
    with pytest.raises(cronium.CroniumError) as err:
        scripted.client().list_variables()
    e = err.value
    assert type(e) is _errors._BY_KIND[info.kind], code
    assert (e.code, e.status, e.retryable, e.kind) == (code, info.status, info.retryable, info.kind)
