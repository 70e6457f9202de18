"""getTransactionCount: the transactions executed (succeeded or failed) in the blocks up to a
slot, summed from the block records' counts.

Summing every block per request would cost a read per block, so the server keeps the running
total at the blocks it last counted, each with its block's hash: a later count starts from the
highest of them still on the canonical chain (a reorg makes the ones above the fork point
miss), and only the blocks after it are read.
"""

from __future__ import annotations

from monmouth.core.view import StateView

__all__ = ["TransactionCounter"]

#: Running totals kept (the most recent blocks counted).
KEEP = 1024


class TransactionCounter:
    """Running totals of executed transactions, checked against the chain on every use."""

    def __init__(self) -> None:
        #: block number -> (its hash, executed transactions in the stored blocks up to it)
        self.totals: dict[int, tuple[bytes, int]] = {}

    def count(self, view: StateView, slot: int) -> int:
        """Executed transactions in the stored blocks up to `slot`."""
        start, total = None, 0
        known = self.totals.get(slot)
        if known is not None:
            block = view.block(slot)
            if block is not None and block.hash == known[0]:
                return known[1]
        for number in sorted((n for n in self.totals if n <= slot), reverse=True):
            block_hash, at = self.totals[number]
            block = view.block(number)
            if block is not None and block.hash == block_hash:
                start, total = number, at
                break
        first = view.first_block()
        if first is None:
            return 0
        begin = first if start is None else start + 1
        for number in range(begin, slot + 1):
            block = view.block(number)
            if block is None:
                continue
            total += block.ok + block.failed
            self.totals[number] = (block.hash, total)
        if len(self.totals) > KEEP:
            for number in sorted(self.totals)[: len(self.totals) - KEEP]:
                del self.totals[number]
        return total
