"""The exceptions of ``cronium``: one class per kind of failure.

Every error the runtime client raises is a :class:`CroniumError` with

- ``code``: a stable snake_case code, the sidecar's (``variable_not_found``,
  ``version_conflict``, ``token_expired``, ...) or the client's (``not_configured``,
  ``connection_failed``, ``timeout``, ``invalid_key``, ...);
- ``status``: the HTTP status when the sidecar answered, else ``None``;
- ``retryable``: whether the same call may succeed later (the client already retried
  what is safe to retry before raising);
- ``message``, ``kind``, ``request_id`` (to find the call in the sidecar's log) and
  ``retry_after`` (seconds the sidecar asked to wait, for rate limits).

Values that JSON cannot hold (NaN, objects of other types) raise the builtin
``TypeError`` before anything is sent. An argument of the wrong type that the API would
refuse (``set_condition("yes")``) raises :class:`CroniumTypeError` before anything is sent:
a :class:`ValidationError` with the code the API gives (``invalid_body``), also a builtin
``TypeError``.

``CroniumTimeoutError`` is also a builtin ``TimeoutError``, so ``except TimeoutError``
catches it; it is not named ``TimeoutError`` to avoid shadowing the builtin.
"""

from __future__ import annotations

import builtins
from types import MappingProxyType
from typing import Any, Dict, Literal, Mapping, NamedTuple, Optional, Tuple, Type

__all__ = [
    "ERROR_CODES",
    "ErrorCode",
    "ErrorCodeInfo",
    "CroniumError",
    "AuthError",
    "NotFoundError",
    "ConflictError",
    "ValidationError",
    "CroniumTypeError",
    "RateLimitedError",
    "UnavailableError",
    "CroniumTimeoutError",
    "ToolActionError",
    "ConfigError",
    "ProtocolError",
    "InternalError",
]

#: Every code the runtime or the client reports, in the protocol crate's order
#: (``cronium-protocol``'s ``ErrorCode``); tests/test_errors.py checks it against the
#: native list. ``CroniumError.code`` is typed ``str``: a newer sidecar may send a code
#: this list lacks.
ErrorCode = Literal[
    "invalid_json",
    "invalid_body",
    "invalid_key",
    "invalid_header",
    "invalid_query",
    "invalid_ndjson",
    "token_missing",
    "token_malformed",
    "token_invalid_signature",
    "token_algorithm_rejected",
    "token_unknown_key",
    "token_expired",
    "token_not_yet_valid",
    "token_wrong_issuer",
    "token_wrong_audience",
    "execution_unknown",
    "scope_insufficient",
    "execution_mismatch",
    "execution_finished",
    "admin_unauthorized",
    "script_token_refused",
    "admin_credential_refused",
    "execution_not_found",
    "execution_conflict",
    "tool_action_unknown",
    "tool_params_invalid",
    "variable_not_found",
    "tool_not_configured",
    "route_not_found",
    "method_not_allowed",
    "version_conflict",
    "idempotency_in_progress",
    "idempotency_key_reused",
    "body_too_large",
    "unsupported_media_type",
    "request_timeout",
    "expectation_failed",
    "rate_limited",
    "storage_unavailable",
    "overloaded",
    "token_cannot_mint",
    "tool_upstream_failed",
    "tool_timeout",
    "internal",
    "not_configured",
    "runtime_context",
    "connection_failed",
    "tls_failed",
    "timeout",
    "protocol_error",
    "stream_closed",
]


class ErrorCodeInfo(NamedTuple):
    """What the protocol says about one code."""

    #: The kind, i.e. which exception class is raised (``CroniumError.kind``).
    kind: str
    #: The HTTP status the sidecar answers with it; ``None`` for client-only codes.
    status: Optional[int]
    #: Whether the same call may succeed if tried again later.
    retryable: bool


class CroniumError(Exception):
    """Base class of every error raised by the runtime client."""

    #: Coarse class of the failure (client-core's ``ErrorKind``).
    kind: str = "internal"

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: Optional[int] = None,
        retryable: bool = False,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.message = message
        self.code = code
        self.status = status
        self.retryable = retryable
        self.request_id = request_id
        self.retry_after = retry_after

    def __reduce__(self) -> Tuple[Any, ...]:
        # Keyword-only fields: rebuild explicitly so errors survive pickling
        # (multiprocessing, concurrent.futures).
        return (
            _rebuild,
            (
                type(self),
                self.message,
                self.code,
                self.status,
                self.retryable,
                self.request_id,
                self.retry_after,
            ),
        )


def _rebuild(
    cls: Type[CroniumError],
    message: str,
    code: str,
    status: Optional[int],
    retryable: bool,
    request_id: Optional[str],
    retry_after: Optional[float],
) -> CroniumError:
    return cls(
        message,
        code=code,
        status=status,
        retryable=retryable,
        request_id=request_id,
        retry_after=retry_after,
    )


class AuthError(CroniumError):
    """The token is missing, invalid or expired (401), or lacks the scope (403)."""

    kind = "auth"


class NotFoundError(CroniumError):
    """What was asked for does not exist (404)."""

    kind = "not_found"


class ConflictError(CroniumError):
    """A compare-and-set lost: the stored version differs (409 ``version_conflict``)."""

    kind = "conflict"


class ValidationError(CroniumError):
    """The request was rejected as malformed (400, 413, 415), e.g. ``invalid_key``."""

    kind = "validation"


class CroniumTypeError(ValidationError, builtins.TypeError):
    """An argument of the wrong type, refused before anything is sent with the code the
    API gives for it (``set_condition("yes")``: ``invalid_body``, as in every binding).

    Also a builtin ``TypeError``, Python's error for a wrong type, so ``except TypeError``
    catches it.
    """


class RateLimitedError(CroniumError):
    """The sidecar asked to slow down (429); see ``retry_after``."""

    kind = "rate_limited"


class UnavailableError(CroniumError):
    """The sidecar or its storage is unreachable or overloaded (503, connection errors)."""

    kind = "unavailable"


class CroniumTimeoutError(CroniumError, builtins.TimeoutError):
    """The call did not finish within the client's timeout (also a ``TimeoutError``)."""

    kind = "timeout"


class ToolActionError(CroniumError):
    """A tool action failed (codes starting with ``tool_``)."""

    kind = "tool_action"


class ConfigError(CroniumError):
    """The client is not configured (``CRONIUM_*`` environment missing or invalid)."""

    kind = "config"


class ProtocolError(CroniumError):
    """The sidecar answered something this client does not understand."""

    kind = "protocol"


class InternalError(CroniumError):
    """A bug in the sidecar (500) or an unexpected status."""

    kind = "internal"


_BY_KIND: Dict[str, Type[CroniumError]] = {
    cls.kind: cls
    for cls in (
        AuthError,
        NotFoundError,
        ConflictError,
        ValidationError,
        RateLimitedError,
        UnavailableError,
        CroniumTimeoutError,
        ToolActionError,
        ConfigError,
        ProtocolError,
        InternalError,
    )
}


def _error_codes() -> Mapping[str, ErrorCodeInfo]:
    from ._native import ERROR_CODES as native

    return MappingProxyType({code: ErrorCodeInfo(kind, status, retryable)
                             for code, kind, status, retryable in native})


#: Every error code with its kind, status and retry rule, from the native module (the
#: protocol crate's table): ``cronium.ERROR_CODES["version_conflict"].status == 409``.
ERROR_CODES: Mapping[str, ErrorCodeInfo] = _error_codes()


def _from_native(
    kind: str,
    code: str,
    message: str,
    status: Optional[int],
    retryable: bool,
    request_id: Optional[str],
    retry_after: Optional[float],
) -> CroniumError:
    """Builds the exception for a client-core error (called by ``cronium._native``)."""
    cls = _BY_KIND.get(kind, CroniumError)
    exc = cls(
        message,
        code=code,
        status=status,
        retryable=retryable,
        request_id=request_id,
        retry_after=retry_after,
    )
    if cls is CroniumError:
        exc.kind = kind
    return exc
