"""Reading the `mev` plugin's findings: one block's record, wherever it is asked from.

`monmouth mev --block N` reads `<data_dir>/mev/` itself; `monmouth mev --block N --endpoint`
asks a running instance (executor or analyzer) through its request socket, whose method
`mev.block` answers with `block_answer`. Both pick the record the same way (`pick`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from monmouth.plugins.mev.store import MevBlock, MevStore

__all__ = ["block_answer", "block_number", "pick"]


def pick(records: Sequence[MevBlock], chain_hash: bytes | None) -> MevBlock | None:
    """The record of the canonical block among those stored at one height.

    There is more than one only when a revert was missed (the plugin was off): the one whose
    hash is the chain's (`chain_hash`, when the asker knows it) wins, and none matches means
    the plugin has no record of the canonical block. Without the chain's hash, the first.
    """
    if not records:
        return None
    if len(records) == 1 or chain_hash is None:
        return records[0]
    wanted = "0x" + chain_hash.hex()
    return next((r for r in records if r.block_hash == wanted), None)


def block_number(params: Any) -> int:
    """The block a `mev.block` request asks for: `{"block": N}`, `N`, or `[N]`. Raises
    ValueError for anything else (the request socket answers it as an error)."""
    if isinstance(params, list) and len(params) == 1:
        params = params[0]
    if isinstance(params, dict):
        unknown = sorted(str(key) for key in params if key != "block")
        if unknown:
            raise ValueError(f"unknown params {', '.join(unknown)}; use block")
        params = params.get("block")
    if not isinstance(params, int) or isinstance(params, bool) or params < 0:
        raise ValueError('params must be a block number: {"block": N}')
    return params


def block_answer(store: MevStore, number: int, chain_hash: bytes | None) -> dict[str, Any]:
    """`mev.block`'s answer: `block`, the record of block `number` as `to_json` gives it (None
    when there is none), and `head`, the newest block the plugin wrote (None: none yet), from
    which the asker measures how far the findings are behind the executor."""
    from monmouth.plugins.mev.store import to_json

    head = store.head()
    record = pick(store.at(number), chain_hash)
    return {
        "block": None if record is None else to_json(record),
        "head": None if head is None else head[0],
    }
