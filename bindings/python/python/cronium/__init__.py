"""The Cronium runtime for scripts: ``import cronium``.

A script started by Cronium (or ``cronium run``) talks to its runtime sidecar through
this module: its input and output, persistent variables, the workflow condition, its
event context, streams of records in and out, and tool actions::

    import cronium

    order = cronium.input()
    seen = cronium.get_variable("orders_seen", 0)
    cronium.set_variable("orders_seen", seen + 1)
    cronium.set_condition(order["total"] > 100)
    cronium.output({"id": order["id"], "ok": True})

The module-level functions use a client configured from the environment
(``CRONIUM_RUNTIME_SOCKET``, ``CRONIUM_RUNTIME_API``, ``CRONIUM_EXECUTION_TOKEN``) on
first use; importing the module does no I/O. :class:`Cronium` configures one
explicitly. ``cronium.aio`` has the same operations as coroutines.

Values are JSON: they come back as the types they were stored with (``0``, ``""``,
``False`` and ``None`` stay themselves, integers of any size stay exact); NaN,
infinities and objects JSON cannot hold raise ``TypeError``. Failures raise
:class:`CroniumError` subclasses (see ``cronium._errors``).

Streams work in sync and async code alike:

- ``stream_input()`` returns the input records; iterate it with ``for`` or
  ``async for`` (the request starts with the first record).
- ``stream_output(record)`` appends one record to the execution's output stream, in
  call order, and returns an awaitable: ``await`` it in async code (it waits only when
  the stream is backed up, without blocking the event loop); sync code may ignore it
  (the call itself waits while the stream is backed up). ``stream_output()`` with no
  argument returns that writer (``write``, ``close``, ``with``/``async with``). The
  stream is ended (flushed) by ``stream_output().close()`` or when the interpreter
  exits.

Old scripts keep working: ``getVariable``, ``setVariable``, ``setCondition`` and
``getCondition`` are aliases, ``event`` and ``context`` are aliases of ``get_context``,
and ``input`` and ``output`` keep their names. The module-level ``input()`` is the old
helpers' call and keeps their answer for an execution without input: ``{}``
(``Cronium().input()`` and ``cronium.aio.input()`` answer ``None``). docs/bindings.md
lists what is the same in every language.
"""

from __future__ import annotations

import _thread
import atexit
import os
import sys
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    Generic,
    List,
    Optional,
    Sequence,
    Set,
    TypeVar,
    Union,
    overload,
)

from . import _native
from ._errors import (
    ERROR_CODES,
    AuthError,
    ConfigError,
    ConflictError,
    CroniumError,
    CroniumTimeoutError,
    CroniumTypeError,
    InternalError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    ToolActionError,
    UnavailableError,
    ValidationError,
)
from ._native import InputStream, OutputStream, Watch
from ._types import StreamSummary, VariableChange, VariableInfo

if TYPE_CHECKING:
    from . import aio as aio

__version__: str = _native.__version__

__all__ = [
    "Cronium",
    "AsyncCronium",
    "Variable",
    "AsyncVariable",
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
    "getVariable",
    "setVariable",
    "setCondition",
    "getCondition",
    "InputStream",
    "OutputStream",
    "Watch",
    "VariableInfo",
    "VariableChange",
    "StreamSummary",
    "ERROR_CODES",
    "CroniumError",
    "AuthError",
    "NotFoundError",
    "ConflictError",
    "ValidationError",
    "RateLimitedError",
    "UnavailableError",
    "CroniumTimeoutError",
    "CroniumTypeError",
    "ToolActionError",
    "ConfigError",
    "ProtocolError",
    "InternalError",
]

T = TypeVar("T")


class _Missing:
    """Marks "no record given": ``None`` is a record (JSON null)."""

    def __repr__(self) -> str:
        return "<no record>"


_MISSING: Any = _Missing()

# ----- sync ----------------------------------------------------------------------------


class Cronium(_native.Client):
    """A client of the runtime, configured explicitly.

    ``Cronium()`` reads the environment like the module-level functions do;
    ``Cronium(socket=..., url=..., token=...)`` uses what is given and takes anything
    missing from the environment. ``timeout`` (seconds, default 30) bounds each call,
    retries included; ``max_retries`` (default 2) is how often a safe call is retried.

    Thread-safe: threads may share one client (each gets its own connection while
    their calls overlap). ``.aio`` is the asyncio view of the same client.
    """

    _out: Optional[OutputStream]
    _aio: Optional[AsyncCronium]

    def get_context(self) -> Dict[str, Any]:
        """The event context: execution, event, user, trigger, attempt, custom fields."""
        ctx: Dict[str, Any] = self.context()
        return ctx

    def event(self) -> Dict[str, Any]:
        """Alias of :meth:`get_context` (the old helpers' name)."""
        return self.get_context()

    def variable(self, key: str) -> Variable[Any]:
        """A handle on one variable: ``get``, ``set``, ``delete``, ``watch``, ``subscribe``."""
        return Variable(self, key)

    @property
    def aio(self) -> AsyncCronium:
        """The asyncio client sharing this client's configuration and token."""
        a: Optional[AsyncCronium] = getattr(self, "_aio", None)
        if a is None:
            a = self._aio = AsyncCronium(self)
        return a

    def output_writer(self) -> OutputStream:
        """This client's default output stream writer (what ``stream_output`` uses)."""
        w: Optional[OutputStream] = getattr(self, "_out", None)
        if w is None:
            with _lock:
                w = getattr(self, "_out", None)
                if w is None:
                    w = self._out = _native.Client.stream_output(self)
                    _close_at_exit(w)
        return w

    @overload
    def stream_output(self) -> OutputStream: ...

    @overload
    def stream_output(self, record: Any) -> Awaitable[None]: ...

    def stream_output(self, record: Any = _MISSING) -> Union[OutputStream, Awaitable[None]]:
        """Appends ``record`` to the output stream, or returns the writer when called
        without one (see the module documentation)."""
        w = self.output_writer()
        if record is _MISSING:
            return w
        return w.write(record)


class Variable(Generic[T]):
    """One variable of the user (``cronium.variable(key)``).

    Annotate it to type the value: ``runs: cronium.Variable[int] = cronium.variable("runs")``.
    """

    __slots__ = ("_client", "key")

    def __init__(self, client: Cronium, key: str) -> None:
        self._client = client
        self.key = key

    def __repr__(self) -> str:
        return f"Variable({self.key!r})"

    @overload
    def get(self) -> Optional[T]: ...

    @overload
    def get(self, default: T) -> T: ...

    def get(self, default: Optional[T] = None) -> Optional[T]:
        """The value, or ``default`` when the variable does not exist."""
        value: Optional[T] = self._client.get_variable(self.key, default)
        return value

    def info(self) -> Optional[VariableInfo]:
        """Value, version and time of the last write; ``None`` when it does not exist."""
        return self._client.get_variable_info(self.key)

    def set(self, value: T, *, if_version: Optional[int] = None) -> int:
        """Stores ``value``; returns the new version. With ``if_version`` only when the
        stored version is that one (``0``: only if it does not exist yet), else raises
        :class:`ConflictError`."""
        return self._client.set_variable(self.key, value, if_version=if_version)

    def delete(self, *, if_version: Optional[int] = None) -> bool:
        """Removes it; ``False`` when it did not exist."""
        return self._client.delete_variable(self.key, if_version=if_version)

    def watch(self) -> Watch:
        """Its changes from now on, as an iterator of :class:`VariableChange`."""
        return self._client.watch_variable(self.key)

    def subscribe(self, callback: Callable[[Optional[T]], object]) -> Callable[[], None]:
        """Calls ``callback(new_value)`` on a background thread for every change from
        now on (``None`` for a delete). Returns a function that stops it; exceptions
        of the callback are printed and do not stop the subscription."""
        return _subscribe(self.watch(), callback)


def _subscribe(watch: Watch, callback: Callable[[Any], object]) -> Callable[[], None]:
    import threading

    def run() -> None:
        with watch:
            try:
                for change in watch:
                    try:
                        callback(change.value)
                    except Exception:
                        sys.excepthook(*sys.exc_info())
            except CroniumError as e:
                # The sidecar refused the watch for good (expired token, lost scope).
                print(f"cronium: subscription to {watch.key!r} ended: {e}", file=sys.stderr)

    thread = threading.Thread(target=run, name=f"cronium-subscribe-{watch.key}", daemon=True)

    def unsubscribe() -> None:
        watch.close()
        _subscriptions.discard(unsubscribe)
        if thread is not threading.current_thread():
            thread.join(timeout=5)

    _subscriptions.add(unsubscribe)
    _ensure_exit_hook()
    thread.start()
    return unsubscribe


# ----- async ---------------------------------------------------------------------------


class AsyncCronium(_native.AsyncClient):
    """The asyncio client (``Cronium(...).aio``, or ``cronium.aio`` at module level).

    Every operation returns an awaitable that runs on the module's Rust runtime and never
    blocks the event loop.
    """

    def __init__(self, client: Cronium) -> None:
        self._sync = client

    async def get_context(self) -> Dict[str, Any]:
        """The event context."""
        ctx: Dict[str, Any] = await self.context()
        return ctx

    async def event(self) -> Dict[str, Any]:
        """Alias of :meth:`get_context`."""
        return await self.get_context()

    def variable(self, key: str) -> AsyncVariable[Any]:
        """A handle on one variable with coroutine methods."""
        return AsyncVariable(self, key)

    @overload
    def stream_output(self) -> OutputStream: ...

    @overload
    def stream_output(self, record: Any) -> Awaitable[None]: ...

    def stream_output(self, record: Any = _MISSING) -> Union[OutputStream, Awaitable[None]]:
        """Same as :meth:`Cronium.stream_output` (one writer per client)."""
        return self._sync.stream_output(record)


class AsyncVariable(Generic[T]):
    """One variable, with coroutine methods (``cronium.aio.variable(key)``)."""

    __slots__ = ("_client", "key")

    def __init__(self, client: AsyncCronium, key: str) -> None:
        self._client = client
        self.key = key

    def __repr__(self) -> str:
        return f"AsyncVariable({self.key!r})"

    @overload
    async def get(self) -> Optional[T]: ...

    @overload
    async def get(self, default: T) -> T: ...

    async def get(self, default: Optional[T] = None) -> Optional[T]:
        """The value, or ``default`` when the variable does not exist."""
        value: Optional[T] = await self._client.get_variable(self.key, default)
        return value

    async def info(self) -> Optional[VariableInfo]:
        """Value, version and time of the last write; ``None`` when it does not exist."""
        return await self._client.get_variable_info(self.key)

    async def set(self, value: T, *, if_version: Optional[int] = None) -> int:
        """Stores ``value``; returns the new version (see :meth:`Variable.set`)."""
        return await self._client.set_variable(self.key, value, if_version=if_version)

    async def delete(self, *, if_version: Optional[int] = None) -> bool:
        """Removes it; ``False`` when it did not exist."""
        return await self._client.delete_variable(self.key, if_version=if_version)

    async def watch(self) -> Watch:
        """Opens a watch (changes from now on); iterate it with ``async for``."""
        return await self._client.watch_variable(self.key)

    async def subscribe(
        self, callback: Callable[[Optional[T]], object]
    ) -> Callable[[], None]:
        """Calls ``callback(new_value)`` (awaiting it if it returns an awaitable) in a
        task of the running loop for every change from now on. Returns a function that
        stops it."""
        import asyncio
        import inspect

        watch = await self.watch()
        loop = asyncio.get_running_loop()

        async def run() -> None:
            async with watch:
                try:
                    async for change in watch:
                        try:
                            result = callback(change.value)
                            if inspect.isawaitable(result):
                                await result
                        except Exception as e:
                            loop.call_exception_handler(
                                {"message": f"cronium subscriber of {self.key!r} failed",
                                 "exception": e}
                            )
                except CroniumError as e:
                    loop.call_exception_handler(
                        {"message": f"cronium subscription to {self.key!r} ended", "exception": e}
                    )

        task = loop.create_task(run())

        def unsubscribe() -> None:
            watch.close()
            task.cancel()

        return unsubscribe


# ----- the module's client -------------------------------------------------------------

_lock = _thread.allocate_lock()
_default: Optional[Cronium] = None
_subscriptions: Set[Callable[[], None]] = set()
_writers: List[Any] = []
_exit_hook = False


def client() -> Cronium:
    """The client the module-level functions use, configured from the environment on
    first use (raises :class:`ConfigError` when it is missing)."""
    global _default
    c = _default
    if c is None:
        with _lock:
            c = _default
            if c is None:
                c = _default = Cronium()
    return c


def _reset_after_fork() -> None:
    # A forked child must not share the parent's connections: it configures anew.
    global _default
    _default = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _ensure_exit_hook() -> None:
    global _exit_hook
    if not _exit_hook:
        _exit_hook = True
        atexit.register(_at_exit)


def _close_at_exit(writer: OutputStream) -> None:
    import weakref

    _writers.append(weakref.ref(writer))
    _ensure_exit_hook()


def _at_exit() -> None:
    for unsubscribe in list(_subscriptions):
        unsubscribe()
    for ref in _writers:
        w = ref()
        if w is not None and w.is_open:
            try:
                w.close()
            except CroniumError as e:
                print(f"cronium: the output stream failed at exit: {e}", file=sys.stderr)


# ----- module-level API ----------------------------------------------------------------


def input() -> Any:  # noqa: A001 - the name scripts have always used
    """The execution's input; ``{}`` when it has none.

    This is the old helpers' call, and old scripts index its answer directly (the
    file-based helpers read a missing ``input.json`` as ``{}``), so it keeps that answer.
    ``client().input()`` and ``cronium.aio.input()`` answer ``None`` for no input."""
    value = client().input()
    return {} if value is None else value


def output(data: Any) -> None:
    """Sets the execution's output (last write wins)."""
    client().output(data)


def get_output() -> Any:
    """The output set so far (``None`` when none)."""
    return client().get_output()


def get_variable(key: str, default: Any = None) -> Any:
    """The value of variable ``key``, or ``default`` when it does not exist."""
    # The module's client read directly once it exists: the hottest call of most
    # scripts, and a call of client() costs as much as converting its answer.
    c = _default
    if c is None:
        c = client()
    return c.get_variable(key, default)


def get_variable_info(key: str) -> Optional[VariableInfo]:
    """Value, version and time of the last write of ``key``; ``None`` when absent."""
    return client().get_variable_info(key)


def set_variable(key: str, value: Any, *, if_version: Optional[int] = None) -> int:
    """Stores variable ``key``; returns its new version. ``if_version`` makes it a
    compare-and-set (``0``: only if it does not exist); a mismatch raises
    :class:`ConflictError`."""
    return client().set_variable(key, value, if_version=if_version)


def delete_variable(key: str, *, if_version: Optional[int] = None) -> bool:
    """Removes variable ``key``; ``False`` when it did not exist."""
    return client().delete_variable(key, if_version=if_version)


def list_variables() -> List[str]:
    """The keys of the user's variables, sorted."""
    return client().list_variables()


def variable(key: str) -> Variable[Any]:
    """A handle on variable ``key``: ``get``, ``set``, ``delete``, ``watch``, ``subscribe``."""
    return Variable(client(), key)


def watch_variable(key: str) -> Watch:
    """Changes of ``key`` from now on: an iterator of :class:`VariableChange`."""
    return client().watch_variable(key)


def set_condition(condition: bool) -> None:
    """Sets the condition that picks the next workflow branch."""
    client().set_condition(condition)


def get_condition() -> Optional[bool]:
    """The condition set so far, ``None`` when none was set."""
    return client().get_condition()


def get_context() -> Dict[str, Any]:
    """The event context (execution id, event id/name/type, user, trigger, attempt...)."""
    return client().get_context()


# The earlier names of get_context (``event`` is the old helpers').
event = get_context
context = get_context


def stream_input() -> InputStream:
    """The input as a stream of records: ``for record in cronium.stream_input()``
    or ``async for record in cronium.stream_input()``."""
    return client().stream_input()


@overload
def stream_output() -> OutputStream: ...


@overload
def stream_output(record: Any) -> Awaitable[None]: ...


def stream_output(record: Any = _MISSING) -> Union[OutputStream, Awaitable[None]]:
    """``stream_output(record)`` appends ``record`` to the output stream and returns an
    awaitable (await it in async code); ``stream_output()`` returns the writer."""
    return client().stream_output(record)


def execute_tool_action(
    tool: str, action: str, params: Any = None, *, idempotency_key: Optional[str] = None
) -> Any:
    """Runs a tool action with the platform's credentials and returns its result. The
    call carries an idempotency key (a fresh one unless given), so retries never send
    twice."""
    return client().execute_tool_action(tool, action, params, idempotency_key=idempotency_key)


def send_slack_message(
    text: str,
    *,
    channel: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Any:
    """Posts ``text`` to the user's Slack webhook."""
    return client().send_slack_message(
        text, channel=channel, idempotency_key=idempotency_key, **params
    )


def send_discord_message(
    content: str, *, idempotency_key: Optional[str] = None, **params: Any
) -> Any:
    """Posts ``content`` to the user's Discord webhook."""
    return client().send_discord_message(content, idempotency_key=idempotency_key, **params)


def send_email(
    to: Union[str, Sequence[str]],
    subject: str,
    body: str,
    *,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Any:
    """Sends an email through the user's SMTP credential."""
    return client().send_email(to, subject, body, idempotency_key=idempotency_key, **params)


def send_teams_message(
    message: str, *, idempotency_key: Optional[str] = None, **params: Any
) -> Any:
    """Posts ``message`` to the user's Microsoft Teams webhook (``title=``, ``sections=``...)."""
    return client().send_teams_message(message, idempotency_key=idempotency_key, **params)


def create_trello_card(
    list_id: str, name: str, *, idempotency_key: Optional[str] = None, **params: Any
) -> Any:
    """Creates a Trello card ``name`` in list ``list_id`` (``desc=``, ``due=``...)."""
    return client().create_trello_card(list_id, name, idempotency_key=idempotency_key, **params)


def append_sheet_rows(
    range: str,  # noqa: A002 - Google's name for it
    rows: Sequence[Sequence[Any]],
    *,
    idempotency_key: Optional[str] = None,
    **params: Any,
) -> Any:
    """Appends ``rows`` after the table in ``range`` of a Google Sheet (``spreadsheetId=``)."""
    return client().append_sheet_rows(range, rows, idempotency_key=idempotency_key, **params)


def list_tools() -> List[Dict[str, Any]]:
    """The tools the user has credentials for: ``[{"tool", "credentials", "actions"}]``."""
    tools: List[Dict[str, Any]] = client().list_tools()
    return tools


def refresh_token() -> None:
    """Gets a fresh token now (calls do this on their own before it expires)."""
    client().refresh_token()


# The names of the old file-based helpers, with their answers (the same as Node's global
# `cronium`): old scripts test them.
getVariable = get_variable
getCondition = get_condition


def setVariable(key: str, value: Any) -> bool:
    """Stores variable ``key`` (the old helpers' name); returns ``True`` as they did.
    :func:`set_variable` returns the new version."""
    set_variable(key, value)
    return True


def setCondition(condition: object) -> bool:
    """Sets the condition from any value's truthiness (the old helpers' name and rule);
    returns the boolean stored. :func:`set_condition` takes a ``bool`` only."""
    value = bool(condition)
    set_condition(value)
    return value

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        # `cronium.aio` is imported on first use: it pulls in asyncio, which a script
        # that never awaits should not pay for at import.
        if name == "aio":
            import importlib

            return importlib.import_module(".aio", __name__)
        raise AttributeError(f"module 'cronium' has no attribute {name!r}")
