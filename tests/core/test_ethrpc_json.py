"""`ethrpc.loads`, how the client reads the node's answers: `json.loads`, the same value (types,
order and all) or the same error, over generated JSON texts, their bytes changed, and texts
nested to the recursion limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monmouth.core import l1
from monmouth.core.ethrpc import loads

Outcome = tuple[Any, ...]


def json_loads(text: bytes | str) -> Any:
    """`json.loads` one frame down, where `loads` runs it when msgspec declines: how deep a
    text may nest before RecursionError depends on the frames below, and `loads` adds one."""
    return json.loads(text)


def outcome(read: Any, text: bytes | str) -> Outcome:
    try:
        value = read(text)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return ("error", type(exc), str(exc))
    # repr tells 1 from 1.0 and True, -0.0 from 0.0, and shows the keys' order.
    return ("value", repr(value))


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats()
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def texts(draw: st.DrawFn) -> bytes:
    value = draw(values)
    ascii_only = draw(st.booleans())
    text = json.dumps(value, ensure_ascii=ascii_only, indent=draw(st.sampled_from([None, 1])))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16"]))
    return text.encode(encoding, "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    text = bytearray(draw(texts()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(text) - 1, 0)))
        byte = draw(st.sampled_from(list(b'{}[],:"\\ 0123456789eE.-+NIatu\x00\x1f\x80\xed\xff')))
        how = draw(st.sampled_from(["replace", "insert", "delete"]))
        if how == "insert" or not text:
            text.insert(at, byte)
        elif how == "replace":
            text[at] = byte
        else:
            del text[at]
    return bytes(text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts())
@example(b'{"a": 1, "a": 2, "b": 3}')  # a repeated key: the last value, the first place
@example(b"[NaN, Infinity, -Infinity, 1e400, -1e400, 1e-400, -0, -0.0]")
@example(b'["\\ud800", "\\udc00\\ud800", "\\ud83d\\ude00"]')
@example(b'"\xed\xa0\x80"')  # a surrogate encoded in UTF-8: `json` reads bytes with surrogatepass
@example(b"123456789012345678901234567890123456789")
def test_loads_is_json_loads(text: bytes) -> None:
    assert outcome(loads, text) == outcome(json.loads, text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_loads_is_json_loads_on_broken_texts(text: bytes) -> None:
    assert outcome(loads, text) == outcome(json.loads, text)


@settings(max_examples=200, deadline=None)
@given(values)
def test_loads_of_a_str_is_json_loads(value: Any) -> None:
    """WebSocket messages arrive as str."""
    text = json.dumps(value, ensure_ascii=False)
    assert outcome(loads, text) == outcome(json.loads, text)


@pytest.mark.parametrize("kind", [b"[]", b'{"a":}'])
@pytest.mark.parametrize("implementation", ["c", "python"])
def test_deep_nesting_fails_alike(
    kind: bytes, implementation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nested to the recursion limit, with or without the C extension (`l1._l1.deeper`)."""
    if implementation == "python":
        monkeypatch.setattr(l1, "_l1", None)
    elif l1.IMPLEMENTATION != "c":
        pytest.skip("the C extension is not built")

    def nested(depth: int) -> bytes:
        if kind == b"[]":
            return b"[" * depth + b"]" * depth
        return b'{"a":' * depth + b"1" + b"}" * depth

    lo, hi = 1, 5000
    while lo < hi:  # the deepest nesting `json.loads` takes from here
        mid = (lo + hi + 1) // 2
        if outcome(json_loads, nested(mid))[0] == "value":
            lo = mid
        else:
            hi = mid - 1
    assert 100 < lo < 5000
    for depth in range(lo - 6, lo + 7):
        assert outcome(loads, nested(depth)) == outcome(json_loads, nested(depth)), depth
