"""JSON ↔ Python conversion, without a sidecar: what is sent and what comes back."""

from __future__ import annotations

import enum
import json
import math
from collections import OrderedDict
from typing import Any

import pytest

from cronium import _native

ROUND_TRIP = [
    0,
    "",
    False,
    True,
    None,
    -1,
    2**63 - 1,
    -(2**63),
    2**64,
    12345678901234567890123,
    -(10**40),
    0.0,
    -0.0,
    1.5,
    1e300,
    5e-324,
    0.1 + 0.2,
    "ascii",
    "naïve ☕ 😀 \u0000 \n\t\"\\/",
    [],
    {},
    [0, "", False, None, [], {}],
    {"a": {"b": [1, {"c": None}]}, "": 0, "ключ": "значение"},
]


@pytest.mark.parametrize("value", ROUND_TRIP, ids=repr)
def test_round_trip_keeps_value_and_type(value: Any) -> None:
    text = _native.json_dumps(value)
    back = _native.json_loads_native(text)
    assert back == value
    assert type(back) is type(value)
    # The same reading as the json module, and the json module reads what we write.
    assert json.loads(text) == value
    assert _native.json_loads_native(json.dumps(value)) == value


def test_nested_types_are_kept() -> None:
    value = {"zero": 0, "empty": "", "no": False, "none": None, "f": 1.0, "big": 10**30}
    back = _native.json_loads_native(_native.json_dumps(value))
    assert [type(v) for v in back.values()] == [int, str, bool, type(None), float, int]


def test_float_that_looks_integral_stays_float() -> None:
    assert _native.json_dumps(3.0) == "3.0"
    assert type(_native.json_loads_native("3.0")) is float
    assert type(_native.json_loads_native("3e2")) is float
    assert type(_native.json_loads_native("3")) is int


def test_key_order_is_kept() -> None:
    text = '{"z":1,"a":2,"m":3}'
    assert list(_native.json_loads_native(text)) == ["z", "a", "m"]
    assert _native.json_dumps(OrderedDict([("z", 1), ("a", 2)])) == '{"z":1,"a":2}'


def test_tuples_become_lists() -> None:
    assert _native.json_dumps((1, (2, "x"))) == '[1,[2,"x"]]'


def test_keys_follow_the_json_module() -> None:
    value = {1: "a", 2.5: "b", True: "c", None: "d", "s": "e"}
    assert json.loads(_native.json_dumps(value)) == json.loads(json.dumps(value))
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None, not tuple"):
        _native.json_dumps({(1, 2): "x"})


def test_enum_members_are_their_values() -> None:
    class Color(enum.IntEnum):
        RED = 1

    class Name(str, enum.Enum):
        ADA = "ada"

    assert _native.json_dumps([Color.RED, Name.ADA]) == '[1,"ada"]'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=repr)
def test_nan_and_infinity_are_type_errors(bad: float) -> None:
    with pytest.raises(TypeError, match="not JSON compliant"):
        _native.json_dumps({"x": [bad]})


@pytest.mark.parametrize(
    "bad, name",
    [(object(), "object"), ({1, 2}, "set"), (b"x", "bytes"), (1j, "complex"), (len, "builtin_function_or_method")],
    ids=repr,
)
def test_other_objects_are_type_errors_naming_the_type(bad: Any, name: str) -> None:
    with pytest.raises(TypeError, match=f"Object of type {name} is not JSON serializable"):
        _native.json_dumps({"nested": [bad]})


def test_reference_cycles_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nested more than"):
        _native.json_dumps(loop)


def test_surrogate_escapes_read_like_the_json_module() -> None:
    for text in ['"\\ud83d\\ude00"', '"\\ud800"', '"a\\udc00b"', '{"k":"\\ud83dx"}']:
        assert _native.json_loads_native(text) == json.loads(text), text


def test_escapes_and_whitespace() -> None:
    text = ' { "a" : [ 1 , "\\u00e9\\n\\"q\\"" ] , "b" : null } '
    assert _native.json_loads_native(text) == {"a": [1, 'é\n"q"'], "b": None}


def test_deep_nesting_reads() -> None:
    text = "[" * 100 + "]" * 100
    value = _native.json_loads_native(text)
    depth = 0
    while value:
        value = value[0]
        depth += 1
    assert depth == 99
