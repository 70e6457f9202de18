"""The `replay` source: a recorded L1 chain, one block per JSON line (written by `monmouth record`).

Each line is exactly what a node returns for `eth_getBlockByNumber(n, true)` with one more key,
`receipts` (`eth_getBlockReceipts(n)`), so a chain recorded from reth, geth or anvil replays
unchanged. The file is read lazily: blocks before a broken line are committed, and the broken
line stops the run with an error that names it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterable
from pathlib import Path

from anyio.lowlevel import checkpoint

from monmouth.core.errors import ReplayFileError, SourceError
from monmouth.core.l1 import BlockId, L1Block
from monmouth.core.notifications import ChainCommitted, Notification
from monmouth.core.sources.base import HashAt


def write_replay(path: Path, blocks: Iterable[L1Block]) -> int:
    """Write `blocks` as a replay file; returns how many were written."""
    count = 0
    with path.open("w") as out:
        for block in blocks:
            out.write(json.dumps(block.to_rpc(), separators=(",", ":")))
            out.write("\n")
            count += 1
    return count


def read_replay(path: Path) -> Iterable[L1Block]:
    """The blocks of a replay file in order; raises ReplayFileError naming a broken line."""
    try:
        # Bytes, decoded a line at a time: a line that is not UTF-8 is a broken line like any
        # other, found when it is reached, after the blocks before it.
        handle = path.open("rb")
    except OSError as exc:
        raise ReplayFileError(f"cannot read replay file {path}: {exc.strerror}") from None
    previous: L1Block | None = None
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.isspace():  # `not line.strip()` without copying the line (lines end in \n)
                continue
            try:
                # `from_rpc(json.loads(line.decode()))`, its blocks and errors, faster.
                block = L1Block.from_json(line)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ReplayFileError(f"{path} line {number}: {exc}") from None
            except RecursionError:
                raise ReplayFileError(
                    f"{path} line {number}: JSON nested too deeply to be a block"
                ) from None
            if previous is not None and (
                block.number != previous.number + 1 or block.parent_hash != previous.hash
            ):
                raise ReplayFileError(
                    f"{path} line {number}: block #{block.number} does not follow "
                    f"block #{previous.number} (numbers or parent hash do not link)"
                )
            previous = block
            yield block


#: Blocks per notification: catch-up in batches lets the node check the next blocks' signatures
#: while it executes the current one, and commit them in groups (a group ends with its
#: notification, where the checking threads also run dry, since the next block is not known
#: yet). At most this many blocks ...
BATCH = 1024
#: ... or L1 calldata bytes (each Solana transaction carried is in it): so that a notification of
#: small blocks holds as many transactions as one of large blocks (64 blocks of 1,000 transfers
#: carry about 14 MB, 300 blocks of 50 as much), within a bounded memory.
BATCH_BYTES = 16 << 20


class ReplaySource:
    """Replays a recorded chain from the block after the node's head to the end of the file."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            raise ReplayFileError(f"replay file {path} is a directory: give the file itself")
        if not path.is_file():
            raise ReplayFileError(f"replay file {path} does not exist")
        self.path = path
        #: Whether more blocks follow the last notification given (`Source.catching_up`).
        self.catching_up = False

    async def notifications(
        self, head: BlockId | None, hash_at: HashAt | None = None
    ) -> AsyncGenerator[Notification, None]:
        first = True
        last: int | None = None
        batch: list[L1Block] = []
        size = 0  # the batch's calldata bytes
        error: ReplayFileError | SourceError | None = None
        try:
            for block in read_replay(self.path):
                last = block.number
                if head is not None and block.number <= head.number:
                    if block.number == head.number and block.hash != head.hash:
                        raise SourceError(
                            f"the data directory's head #{head.number} is not block "
                            f"#{block.number} of {self.path}: they are different chains"
                        )
                    continue
                if first and head is not None:
                    if block.number != head.number + 1:
                        raise SourceError(
                            f"{self.path} continues at block #{block.number} but the data "
                            f"directory's head is #{head.number}: blocks are missing"
                        )
                    if block.parent_hash != head.hash:
                        raise SourceError(
                            f"block #{block.number} of {self.path} does not extend the data "
                            f"directory's head #{head.number}: they are different chains"
                        )
                first = False
                if len(batch) >= BATCH or size >= BATCH_BYTES:
                    # Given once the block after it is read: the node then knows more follows.
                    self.catching_up = True
                    yield ChainCommitted(tuple(batch))
                    batch, size = [], 0
                    await checkpoint()
                batch.append(block)
                size += sum(len(tx.input) for tx in block.transactions)
        except (ReplayFileError, SourceError) as exc:
            error = exc
        self.catching_up = False
        # Blocks read before a broken line are still committed.
        if batch:
            yield ChainCommitted(tuple(batch))
        if error is not None:
            raise error
        if head is not None and (last is None or last < head.number):
            raise SourceError(
                f"{self.path} ends at block #{last} before the data directory's head "
                f"#{head.number}: is it the same chain?"
            )
