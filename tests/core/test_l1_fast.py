"""The fast path of L1 block parsing against its reference, `L1Block.from_rpc`.

`L1Block.from_json(text)` must give what `from_rpc(json.loads(text.decode()))` gives, and
`L1Block.from_rpc_fast(obj)` what `from_rpc(obj)` gives: the same block (traces included,
though they take no part in equality) or the same exception with the same message. Blocks are
generated in every shape the reference takes (hex with and without leading zeros, upper case,
optional keys absent or null, logs, traces, unknown keys, the edges of the slot and timestamp
limits) and then broken: a field replaced by something else or removed, or bytes of the JSON
text changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monmouth.core import l1
from monmouth.core.l1 import SLOT_LIMIT, TIMESTAMP_LIMIT, L1Block

Outcome = tuple[Any, ...]


def outcome(parse: Callable[[Any], L1Block | None], arg: Any) -> Outcome:
    """What `parse(arg)` gives, comparable: the block with its traces and the types of its
    values (repr tells bytes from bytearray), or the exception's type and message (or None,
    where the fast path declines)."""
    try:
        block = parse(arg)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return ("error", type(exc), str(exc))
    if block is None:
        return ("declined",)
    return ("block", block, repr(block), block.traces)


def reference_json(text: bytes) -> L1Block:
    return L1Block.from_rpc(json.loads(text.decode()))


# ---------------------------------------------------------------------- generated blocks

#: Values that are no field of a block: wrong types, wrong hex, wrong sizes, what `int` and
#: `bytes.fromhex` accept beyond canonical hex.
BAD = [
    None,
    0,
    1,
    1.5,
    True,
    "",
    "0x",
    "0X10",
    "x10",
    "10",
    "0x1g",
    "0x 1",
    "0x1 ",
    "0x_1",
    "0x1_0",
    "0xab cd",
    "0xabc",
    "0x\u0661",
    "0x" + "0" * 65,
    "0x" + "f" * 64,
    "0x" + "11" * 20,
    "0x" + "11" * 32,
    [],
    {},
    ["0x00"],
    {"a": 1},
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
unknown_keys = st.dictionaries(
    st.sampled_from(["gas", "nonce", "logsBloom", "v", "type", "accessList", "blockHash", "zz"]),
    json_values,
    max_size=3,
)


@st.composite
def quantity(draw: st.DrawFn, limit: int = 2**256) -> str:
    edges = [0, 1, 2**64 - 1, 2**64, limit - 1, 2**63 - 1, 2**63]
    value = draw(st.integers(0, limit - 1) | st.sampled_from([e for e in edges if e < limit]))
    digits = f"{value:x}"
    if draw(st.booleans()):
        digits = "0" * draw(st.integers(0, 3)) + digits
    digits = digits[-64:] if len(digits) > 64 else digits
    if draw(st.booleans()):
        digits = digits.upper()
    return "0x" + digits


@st.composite
def hexdata(draw: st.DrawFn, size: int | None = None) -> str:
    raw = draw(st.binary(min_size=size or 0, max_size=size if size is not None else 70))
    text = raw.hex()
    return "0x" + (text.upper() if draw(st.booleans()) else text)


def optional(draw: st.DrawFn, obj: dict[str, Any], key: str, value: st.SearchStrategy[Any]) -> None:
    """`key` absent, null or drawn."""
    choice = draw(st.sampled_from(["absent", "null", "value", "value"]))
    if choice == "null":
        obj[key] = None
    elif choice == "value":
        obj[key] = draw(value)


@st.composite
def rpc_log(draw: st.DrawFn) -> dict[str, Any]:
    log: dict[str, Any] = {"address": draw(hexdata(20))}
    optional(draw, log, "topics", st.lists(hexdata(32), max_size=4))
    if draw(st.booleans()):
        log["data"] = draw(hexdata())
    log.update(draw(unknown_keys))
    return log


@st.composite
def rpc_block(draw: st.DrawFn) -> dict[str, Any]:
    txs = []
    receipts = []
    for _ in range(draw(st.integers(0, 4))):
        tx_hash = draw(hexdata(32))
        tx: dict[str, Any] = {
            "hash": tx_hash,
            "from": draw(hexdata(20)),
            "value": draw(quantity()),
            "input": draw(hexdata()),
        }
        optional(draw, tx, "to", hexdata(20))
        optional(draw, tx, "transactionIndex", quantity())
        tx.update(draw(unknown_keys))
        txs.append(tx)
        # The receipt may name the hash in the other case: the same bytes.
        receipt: dict[str, Any] = {
            "transactionHash": tx_hash.swapcase().replace("0X", "0x")
            if draw(st.booleans())
            else tx_hash
        }
        optional(draw, receipt, "status", quantity())
        optional(draw, receipt, "logs", st.lists(rpc_log(), max_size=3))
        receipt.update(draw(unknown_keys))
        receipts.append(receipt)
    shuffled = list(draw(st.permutations(receipts)))
    duplicate: bool = draw(st.booleans())
    if shuffled and duplicate:
        shuffled.append(dict(draw(st.sampled_from(shuffled)), status="0x0"))  # a duplicate
    block: dict[str, Any] = {
        "number": draw(quantity(SLOT_LIMIT + 1)),
        "hash": draw(hexdata(32)),
        "parentHash": draw(hexdata(32)),
        "timestamp": draw(quantity(TIMESTAMP_LIMIT + 1)),
        "transactions": txs,
        "receipts": shuffled,
    }
    optional(draw, block, "traces", st.lists(json_values, max_size=3))
    block.update(draw(unknown_keys))
    return block


def places(obj: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in `obj`."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            out.append((obj, key))
            places(value, out)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out.append((obj, i))
            places(value, out)
    return out


@st.composite
def broken_block(draw: st.DrawFn) -> Any:
    """A generated block, with up to two of its values replaced or removed."""
    block = draw(rpc_block())
    for _ in range(draw(st.integers(0, 2))):
        spots = places(block, [])
        if not spots:
            break
        container, key = draw(st.sampled_from(spots))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(st.sampled_from(BAD))
    return block


def json_texts(obj: Any) -> list[bytes]:
    return [
        json.dumps(obj, separators=(",", ":")).encode(),
        json.dumps(obj, indent=1, ensure_ascii=False).encode(),
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_block())
def test_fast_path_equals_reference(obj: Any) -> None:
    expected = outcome(L1Block.from_rpc, obj)
    assert outcome(L1Block.from_rpc_fast, obj) == expected
    for text in json_texts(obj):
        assert outcome(L1Block.from_json, text) == outcome(reference_json, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rpc_block())
def test_fast_path_takes_every_canonical_block(obj: Any) -> None:
    """Blocks in the canonical shape are the fast path's own (no fallback hides a gap), and
    equal the reference's."""
    expected = outcome(L1Block.from_rpc, obj)
    if expected[0] == "error":
        return  # out of range, or a transaction without its receipt: the reference says so
    text = json_texts(obj)[0]
    assert outcome(l1._from_json_fast, text) == expected
    if l1.IMPLEMENTATION == "c":
        assert outcome(l1._from_dict_fast, obj) == expected


@settings(max_examples=150, deadline=None)
@given(rpc_block())
def test_python_reference_of_the_extension(obj: Any) -> None:
    """Without the C extension, the fast path (msgspec and `_transactions_py`) is the same."""
    text = json_texts(obj)[0]
    expected = outcome(reference_json, text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(l1, "_l1", None)
        assert outcome(L1Block.from_json, text) == expected
        assert outcome(L1Block.from_rpc_fast, obj) == outcome(L1Block.from_rpc, obj)
        if expected[0] == "block":
            assert outcome(l1._from_json_fast, text) == expected


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    """A generated block's JSON text with some bytes replaced, inserted or removed."""
    text = bytearray(json_texts(draw(rpc_block()))[draw(st.integers(0, 1))])
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text) - 1))
        how = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(
            st.sampled_from(list(b'{}[],:" \\0x1aAgG-.eE\x00\x1f\x7f\xff\xc3\xed'))
            | st.integers(0, 255)
        )
        if how == "replace":
            text[at] = byte
        elif how == "insert":
            text.insert(at, byte)
        else:
            del text[at]
    return bytes(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_text())
@example(b'{"number":"0x1","z":"\xed\xa0\x80"}')  # not UTF-8, in a key the fast path skips
@example(b'{"number":"0x1","z":"\\ud800"}')  # a lone surrogate, which `json` takes
@example(b'{"number":"0x1","number":"0x2"}')  # a repeated key: the last one counts
def test_json_text_mutations(text: bytes) -> None:
    assert outcome(L1Block.from_json, text) == outcome(reference_json, text)


def test_duplicate_keys_take_the_last() -> None:
    obj = L1Block.from_rpc(
        {
            "number": "0x1",
            "hash": "0x" + "11" * 32,
            "parentHash": "0x" + "22" * 32,
            "timestamp": "0x5",
            "transactions": [],
            "receipts": [],
        }
    ).to_rpc()
    text = json.dumps(obj).encode()[:-1] + b', "number": "0x7", "traces": [1, {"a": 2}]}'
    assert outcome(L1Block.from_json, text) == outcome(reference_json, text)
    assert L1Block.from_json(text).number == 7
    assert L1Block.from_json(text).traces == (1, {"a": 2})


def nested(depth: int, where: str) -> bytes:
    """A valid block whose JSON nests `depth` lists deep under an unknown key or the traces."""
    obj = {
        "number": "0x1",
        "hash": "0x" + "11" * 32,
        "parentHash": "0x" + "22" * 32,
        "timestamp": "0x5",
        "transactions": [],
        "receipts": [],
    }
    text = json.dumps(obj).encode()[:-1]
    return text + b', "%s": %s%s}' % (where.encode(), b"[" * depth, b"]" * depth)


@pytest.mark.parametrize("where", ["unknownKey", "traces"])
@pytest.mark.parametrize("implementation", ["c", "python"])
def test_deep_nesting_fails_alike(
    where: str, implementation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`json` refuses a text nested deeper than the recursion limit allows from where it runs;
    the fast path must not take one the reference refuses (found by bisection, then checked
    around the limit, from the same stack depth), with or without the C extension."""
    if implementation == "python":
        monkeypatch.setattr(l1, "_l1", None)
    elif l1.IMPLEMENTATION != "c":
        pytest.skip("the C extension is not built")
    lo, hi = 1, 5000
    while lo < hi:  # the deepest nesting the reference takes
        mid = (lo + hi + 1) // 2
        if outcome(reference_json, nested(mid, where))[0] == "block":
            lo = mid
        else:
            hi = mid - 1
    assert 100 < lo < 5000
    for depth in range(lo - 6, lo + 7):
        text = nested(depth, where)
        assert outcome(L1Block.from_json, text) == outcome(reference_json, text), depth


@pytest.mark.skipif(l1.IMPLEMENTATION != "c", reason="the C extension is not built")
@settings(max_examples=300, deadline=None)
@given(
    st.one_of(quantity(SLOT_LIMIT + 1), st.sampled_from(BAD)),
    st.one_of(quantity(TIMESTAMP_LIMIT + 1), st.sampled_from(BAD)),
    st.one_of(st.none(), st.lists(json_values, max_size=2)),  # checked before (`_from_*_fast`)
)
def test_c_header_is_its_python_reference(number: Any, timestamp: Any, traces: Any) -> None:
    """`_l1.block` gives `_block`'s block, or declines (then `_block` decides)."""
    from monmouth.core import _l1

    args = (number, "0x" + "11" * 32, "0x" + "22" * 32, timestamp, (), traces)
    fast = _l1.block(*args)
    if fast is not None:
        assert outcome(lambda a: fast, None) == outcome(lambda a: l1._block(*args), None)
    assert outcome(lambda a: l1._header(*args), None) == outcome(lambda a: l1._block(*args), None)
