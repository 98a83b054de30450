"""Small value types the module returns."""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

__all__ = ["VariableInfo", "VariableChange", "StreamSummary"]


class VariableInfo(NamedTuple):
    """A stored variable with its version (for compare-and-set)."""

    key: str
    value: Any
    #: Grows by one on every write; pass it as ``if_version=`` to compare-and-set.
    version: int
    #: When it was last written (RFC 3339 UTC, milliseconds).
    updated_at: str


class VariableChange(NamedTuple):
    """One change of a watched variable."""

    key: str
    #: The new value; ``None`` when deleted (or set to JSON null).
    value: Any
    #: The new version; ``None`` for a delete.
    version: Optional[int]
    #: When the change was stored (empty for a delete the client inferred after a
    #: reconnect).
    updated_at: str
    deleted: bool


class StreamSummary(NamedTuple):
    """What the sidecar appended for one output stream request."""

    records: int
    bytes: int
