"""``cronium.aio``: the module-level operations as coroutines, for asyncio code.

Each call runs on the module's Rust runtime and is awaited from asyncio without
blocking the event loop; they share the client (configuration, token, output stream)
of the sync functions::

    import cronium.aio as cr

    async def main() -> None:
        n = await cr.get_variable("runs", 0)
        await cr.set_variable("runs", n + 1)
        async for change in await cr.watch_variable("runs"):
            print(change.value)

Streams are the same objects as in sync code: ``stream_input()`` is iterated with
``async for`` and ``await stream_output(record)`` appends a record.
"""

from __future__ import annotations

from typing import Any, Awaitable, Dict, List, Optional, Sequence, Union, overload

import cronium as _cronium
from cronium import AsyncCronium, AsyncVariable, InputStream, OutputStream, Watch
from cronium._types import VariableInfo

__all__ = [
    "client",
    "input",
    "output",
    "get_output",
    "get_variable",
    "get_variable_info",
    "set_variable",
    "delete_variable",
    "list_variables",
    "variable",
    "watch_variable",
    "set_condition",
    "get_condition",
    "get_context",
    "event",
    "context",
    "stream_input",
    "stream_output",
    "execute_tool_action",
    "send_slack_message",
    "send_discord_message",
    "send_email",
    "send_teams_message",
    "create_trello_card",
    "append_sheet_rows",
    "list_tools",
    "refresh_token",
]


def client() -> AsyncCronium:
    """The asyncio view of the module's client (configured from the environment)."""
    return _cronium.client().aio


async def input() -> Any:  # noqa: A001 - the name scripts have always used
    """The execution's input (``None`` when it has none)."""
    return await client().input()


async def output(data: Any) -> None:
    """Sets the execution's output."""
    await client().output(data)


async def get_output() -> Any:
    """The output set so far."""
    return await client().get_output()


async def get_variable(key: str, default: Any = None) -> Any:
    """The value of ``key``, or ``default`` when it does not exist."""
    return await client().get_variable(key, default)


async def get_variable_info(key: str) -> Optional[VariableInfo]:
    """Value, version and time of the last write of ``key``; ``None`` when absent."""
    return await client().get_variable_info(key)


async def set_variable(key: str, value: Any, *, if_version: Optional[int] = None) -> int:
    """Stores ``key``; returns its new version (compare-and-set with ``if_version``)."""
    return await client().set_variable(key, value, if_version=if_version)


async def delete_variable(key: str, *, if_version: Optional[int] = None) -> bool:
    """Removes ``key``; ``False`` when it did not exist."""
    return await client().delete_variable(key, if_version=if_version)


async def list_variables() -> List[str]:
    """The keys of the user's variables, sorted."""
    return await client().list_variables()


def variable(key: str) -> AsyncVariable[Any]:
    """A handle on ``key`` with coroutine methods (``get``, ``set``, ``watch``...)."""
    return client().variable(key)


async def watch_variable(key: str) -> Watch:
    """Opens a watch of ``key`` (changes from now on); use it with ``async for``."""
    return await client().watch_variable(key)


async def set_condition(condition: bool) -> None:
    """Sets the workflow condition."""
    await client().set_condition(condition)


async def get_condition() -> Optional[bool]:
    """The condition set so far."""
    return await client().get_condition()


async def get_context() -> Dict[str, Any]:
    """The event context."""
    return await client().get_context()


# The earlier names of get_context.
event = get_context
context = get_context


def stream_input() -> InputStream:
    """The input records, for ``async for`` (the request starts with the first)."""
    return client().stream_input()


@overload
def stream_output() -> OutputStream: ...


@overload
def stream_output(record: Any) -> Awaitable[None]: ...


def stream_output(record: Any = _cronium._MISSING) -> Union[OutputStream, Awaitable[None]]:
    """``await stream_output(record)`` appends a record; ``stream_output()`` is the
    writer (``async with``, ``await aclose()``)."""
    return client().stream_output(record)


async def execute_tool_action(
    tool: str, action: str, params: Any = None, *, idempotency_key: Optional[str] = None
) -> Any:
    """Runs a tool action with the platform's credentials."""
    return await client().execute_tool_action(
        tool, action, params, idempotency_key=idempotency_key
    )


async def send_slack_message(
    text: str,
    *,
    channel: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Any:
    """Posts ``text`` to the user's Slack webhook."""
    return await client().send_slack_message(
        text, channel=channel, idempotency_key=idempotency_key, **params
    )


async def send_discord_message(
    content: str, *, idempotency_key: Optional[str] = None, **params: Any
) -> Any:
    """Posts ``content`` to the user's Discord webhook."""
    return await client().send_discord_message(
        content, idempotency_key=idempotency_key, **params
    )


async def send_email(
    to: Union[str, Sequence[str]],
    subject: str,
    body: str,
    *,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Any:
    """Sends an email through the user's SMTP credential."""
    return await client().send_email(
        to, subject, body, idempotency_key=idempotency_key, **params
    )


async def refresh_token() -> None:
    """Gets a fresh token now."""
    await client().refresh_token()


async def send_teams_message(
    message: str, *, idempotency_key: Optional[str] = None, **params: Any
) -> Any:
    """Posts ``message`` to the user's Microsoft Teams webhook."""
    return await client().send_teams_message(message, idempotency_key=idempotency_key, **params)


async def create_trello_card(
    list_id: str, name: str, *, idempotency_key: Optional[str] = None, **params: Any
) -> Any:
    """Creates a Trello card ``name`` in list ``list_id``."""
    return await client().create_trello_card(
        list_id, name, idempotency_key=idempotency_key, **params
    )


async def append_sheet_rows(
    range: str,  # noqa: A002 - Google's name for it
    rows: Sequence[Sequence[Any]],
    *,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Any:
    """Appends ``rows`` after the table in ``range`` of a Google Sheet."""
    return await client().append_sheet_rows(
        range, rows, idempotency_key=idempotency_key, **params
    )


async def list_tools() -> List[Dict[str, Any]]:
    """The tools the user has credentials for."""
    tools: List[Dict[str, Any]] = await client().list_tools()
    return tools
