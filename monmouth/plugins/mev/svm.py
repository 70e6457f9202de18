"""SVM-side MEV patterns over executed Solana transactions, block by block.

`SvmDetector.inspect` takes one block's `TransactionInfo`s (in execution order, as the
`notify_transactions` hook hands them over) and returns `SvmFinding`s of four kinds. Each finding
names the transactions (base58 signatures) and accounts it is about, the numbers that made it
(`evidence`), a score in [0, 1] and a one-sentence summary.

Words used below: a transaction is *executed* when its status is `ok` or `failed` (the fee was
charged); its *fee payer* is `accounts[0]`, and stands for its signer (`TransactionInfo` does not
say which other keys signed). The programs a transaction invokes come from its log lines
`Program <id> invoke [<depth>]`.

- ``svm_sandwich``: in one block, fee payer A has executed transactions at indexes i < k and
  another fee payer B one at j, i < j < k, and all three touch the same account X, where X is not
  a well-known program or sysvar (`WELL_KNOWN_ACCOUNTS`), not a program any transaction of the
  block invokes, and not the fee payer of any executed transaction of the block (wallets that
  sign are not the token accounts or mints a sandwich fights over). Only transactions that
  invoke a program other than the builtins (`BUILTIN_PROGRAMS`: system, vote, compute budget,
  loaders...) take part unless `SvmDetectorConfig.sandwich_skip_builtin` is off: a system
  transfer moves lamports between wallets and touches no token account or mint. The two legs are
  consecutive transactions of A among those touching X; every transaction of another fee payer
  touching X between them is a victim. Pairs of legs found through several accounts make one
  finding. Score: ``0.5 + 0.5 * victims / between``, where `between` counts the executed
  transactions between the two legs; 1.0 for a tight front, victim(s), back.
- ``spam``: a fee payer with at least `spam_min` failed or rejected transactions in one block
  (a per-block count: no state, nothing to revert). A rejection for `signature_failure` counts
  for nobody, as the claimed fee payer did not sign it; malformed transactions have no fee payer.
  Score: ``(bad / total) * min(1, bad / (2 * spam_min))``, `total` counting the payer's
  transactions of the block (the same exclusions), so a payer whose every transaction fails
  scores at least 0.5, and 1.0 from twice `spam_min` on.
- ``replay``: a signature seen before: rejected as `already_processed` (the node itself saw it
  executed), or already seen in an earlier transaction of the block or of a block at most
  `replay_window` blocks back (any status; except `signature_failure` rejections, whose
  signature does not belong to the transaction, both as the earlier and as the later sighting).
  One finding per signature and block. Score: 1.0 when the earlier copy was executed (or the node
  says so with `already_processed`), 0.5 when it was only seen rejected (a retry rather than a
  replay).
- ``cu_outlier``: the compute units each executed transaction spent in each program it invoked
  at depth 1 (the program's `consumed` log lines; builtins, which log none, share what remains
  of the transaction's compute units equally), against running statistics of that program over
  the blocks before this one (mean and sample standard deviation, merged block by block with
  Welford's update in Chan's pairwise form, with numpy). Flagged when the program already has at
  least `cu_min_samples` samples and ``z = (cu - mean) / s > cu_k``, with
  ``s = max(std, cu_std_floor * mean, 1)`` (the floor keeps a program whose cost never varies,
  like the system program's 150 units per instruction, from flagging every small change).
  One finding per transaction and program. Score: ``1 - cu_k / z`` (0 at the threshold, 0.5 at
  twice it, towards 1 beyond).

State and reverts: the running compute-unit statistics and the signature memory are the only
state. For each inspected block the detector keeps an undo record (the statistics of each
program the block touched as they were before it, and the signatures it added) for the blocks
within `replay_window + revert_depth` of the newest one. `revert(n)` restores the records of the
blocks from the newest down to `n`, so the state afterwards is exactly (bit for bit) the state a
detector that never saw those blocks would have; the undo records are chosen over recomputing,
which would need every sample kept. Inspecting a block at or below the newest inspected height
first reverts down to it (a reorg nobody reported). The detector is deterministic: the same
blocks in the same order give the same findings, in the order sandwiches, spam, replays, outliers,
each by position in the block.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

import base58
import msgspec

from monmouth.core import b58
from monmouth.core.payloads import BlockInfo, TransactionInfo

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "BUILTIN_PROGRAMS",
    "WELL_KNOWN_ACCOUNTS",
    "FindingKind",
    "ProgramStats",
    "SvmDetector",
    "SvmDetectorConfig",
    "SvmFinding",
    "invoked_programs",
    "program_compute_units",
]

FindingKind = Literal["svm_sandwich", "spam", "replay", "cu_outlier"]

SYSTEM_PROGRAM: Final = "11111111111111111111111111111111"
TOKEN_PROGRAM: Final = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"

#: Programs built into the runtime (no SBF code, no `consumed` log line).
BUILTIN_PROGRAMS: Final[frozenset[str]] = frozenset(
    (
        SYSTEM_PROGRAM,
        "Vote111111111111111111111111111111111111111",
        "Stake11111111111111111111111111111111111111",
        "Config1111111111111111111111111111111111111",
        "ComputeBudget111111111111111111111111111111",
        "AddressLookupTab1e1111111111111111111111111",
        "BPFLoader1111111111111111111111111111111111",
        "BPFLoader2111111111111111111111111111111111",
        "BPFLoaderUpgradeab1e11111111111111111111111",
        "LoaderV411111111111111111111111111111111111",
        "NativeLoader1111111111111111111111111111111",
        "Ed25519SigVerify111111111111111111111111111",
        "KeccakSecp256k11111111111111111111111111111",
        "Secp256r1SigVerify1111111111111111111111111",
    )
)

#: Accounts that are never the token account or mint of a sandwich: builtins, the SPL programs,
#: sysvars.
WELL_KNOWN_ACCOUNTS: Final[frozenset[str]] = BUILTIN_PROGRAMS | frozenset(
    (
        TOKEN_PROGRAM,
        "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
        "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
        "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
        "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",
        "Sysvar1111111111111111111111111111111111111",
        "SysvarC1ock11111111111111111111111111111111",
        "SysvarRent111111111111111111111111111111111",
        "SysvarRecentB1ockHashes11111111111111111111",
        "SysvarS1otHashes111111111111111111111111111",
        "SysvarStakeHistory1111111111111111111111111",
        "SysvarEpochSchedu1e111111111111111111111111",
        "SysvarFees111111111111111111111111111111111",
        "Sysvar1nstructions1111111111111111111111111",
        "SysvarRewards111111111111111111111111111111",
        "SysvarS1otHistory11111111111111111111111111",
        "SysvarEpochRewards1111111111111111111111111",
        "SysvarLastRestartS1ot1111111111111111111111",
    )
)

_B58 = "[1-9A-HJ-NP-Za-km-z]{32,44}"
_INVOKE = re.compile(rf"Program ({_B58}) invoke \[(\d+)\]")
_CONSUMED = re.compile(rf"Program ({_B58}) consumed (\d+) of \d+ compute units")
_END = re.compile(rf"Program ({_B58}) (?:success|failed)")

_EXECUTED: Final = frozenset(("ok", "failed"))
_SIGNATURE_FAILURE: Final = "signature_failure"
_ALREADY_PROCESSED: Final = "already_processed"


class SvmDetectorConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The detector's thresholds (see the module docstring for the rules they tune).

    :ivar spam_min: failed or rejected transactions of one fee payer in one block that make spam.
    :ivar replay_window: how many blocks back a signature counts as seen (twice Solana's
        150-block window: a copy sent after its blockhash expired is still an attempt).
    :ivar revert_depth: how many blocks `revert` can always undo, beyond the replay window.
    :ivar cu_k: standard deviations above the mean that make a compute-unit outlier.
    :ivar cu_min_samples: samples a program needs before its outliers are flagged.
    :ivar cu_std_floor: the least standard deviation, as a share of the mean.
    :ivar sandwich_skip_builtin: leave transactions that invoke only builtin programs out of
        sandwiches.
    :ivar ignored_accounts: more base58 accounts that never make a sandwich (a deployment's own
        programs, say).
    """

    spam_min: int = 5
    replay_window: int = 300
    revert_depth: int = 64
    cu_k: float = 4.0
    cu_min_samples: int = 30
    cu_std_floor: float = 0.1
    sandwich_skip_builtin: bool = True
    ignored_accounts: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.spam_min < 1:
            raise ValueError("spam_min must be at least 1")
        if self.replay_window < 0 or self.revert_depth < 0:
            raise ValueError("replay_window and revert_depth must not be negative")
        if not self.cu_k > 0 or not self.cu_std_floor >= 0:
            raise ValueError("cu_k must be positive and cu_std_floor not negative")
        if self.cu_min_samples < 2:
            raise ValueError("cu_min_samples must be at least 2")


class SvmFinding(msgspec.Struct, frozen=True, kw_only=True):
    """One pattern found in one block.

    :ivar kind: `svm_sandwich`, `spam`, `replay` or `cu_outlier`.
    :ivar score: in [0, 1], by the kind's formula (module docstring).
    :ivar signatures: base58 signatures of the transactions involved, in block order (for a
        sandwich: front, victims, back).
    :ivar accounts: base58 accounts involved (sandwich: the shared accounts, sorted; spam and
        replay: the fee payer; outlier: the fee payer and the program).
    :ivar evidence: the numbers behind the finding, by name.
    :ivar summary: one readable sentence.
    """

    kind: FindingKind
    block_number: int
    score: float
    signatures: list[str]
    accounts: list[str]
    evidence: dict[str, int | float | str]
    summary: str


class ProgramStats(msgspec.Struct, frozen=True, kw_only=True):
    """The running compute-unit statistics of one program.

    :ivar std: the sample standard deviation (0.0 below two samples).
    """

    samples: int
    mean: float
    std: float


def invoked_programs(logs: Sequence[str]) -> list[str]:
    """The programs a transaction's logs show invoked, at any depth, in first-invocation order."""
    seen: dict[str, None] = {}
    for line in logs:
        found = _INVOKE.fullmatch(line)
        if found is not None:
            seen.setdefault(found.group(1), None)
    return list(seen)


def program_compute_units(logs: Sequence[str], compute_units: int) -> dict[str, float]:
    """The compute units a transaction spent in each program it invoked at depth 1.

    A program's units are the sum of the `consumed` lines of its depth-1 invocations; the
    invocations without one (builtins) share the rest of `compute_units` equally. Empty when the
    logs show no invocation.
    """
    stack: list[str] = []
    calls: list[tuple[str, int | None]] = []
    for line in logs:
        invoke = _INVOKE.fullmatch(line)
        if invoke is not None:
            stack.append(invoke.group(1))
            if invoke.group(2) == "1":
                calls.append((invoke.group(1), None))
            continue
        consumed = _CONSUMED.fullmatch(line)
        if consumed is not None:
            if len(stack) == 1 and calls and stack[0] == consumed.group(1):
                program, metered = calls[-1]
                calls[-1] = (program, (metered or 0) + int(consumed.group(2)))
            continue
        end = _END.match(line)
        if end is not None and stack and stack[-1] == end.group(1):
            stack.pop()
    if not calls:
        return {}
    metered_total = sum(units for _, units in calls if units is not None)
    unmetered = sum(1 for _, units in calls if units is None)
    share = max(0, compute_units - metered_total) / unmetered if unmetered else 0.0
    out: dict[str, float] = {}
    for program, units in calls:
        out[program] = out.get(program, 0.0) + (share if units is None else float(units))
    return out


def _b58(raw: bytes) -> str:
    return b58.encode(raw)


def _short(text: str) -> str:
    return text[:8] + "..."


@dataclass(slots=True)
class _Tx:
    """One transaction of the block being inspected, with what the rules need of it."""

    index: int
    info: TransactionInfo
    signature: str | None
    payer: bytes | None
    executed: bool
    programs: list[str]

    @classmethod
    def of(cls, index: int, info: TransactionInfo) -> _Tx:
        signature = None if info.signature is None else _b58(info.signature)
        payer = info.accounts[0] if info.accounts else None
        executed = info.status in _EXECUTED
        programs = invoked_programs(info.logs) if executed else []
        return cls(index, info, signature, payer, executed, programs)

    @property
    def forged(self) -> bool:
        """Rejected because the signature does not verify: it names nobody."""
        return self.info.status == "rejected" and self.info.reason == _SIGNATURE_FAILURE


@dataclass(slots=True)
class _Undo:
    """What one inspected block changed: enough to put the state back exactly."""

    number: int
    stats_before: dict[str, tuple[int, float, float] | None] = field(default_factory=dict)
    #: Signatures whose sighting the block recorded, with the stale sighting it replaced.
    signatures: list[tuple[str, tuple[int, str] | None]] = field(default_factory=list)


@dataclass(slots=True)
class _Legs:
    front: _Tx
    back: _Tx
    victims: dict[int, _Tx] = field(default_factory=dict)
    accounts: set[bytes] = field(default_factory=set)


class SvmDetector:
    """Finds SVM-side MEV patterns block by block; keeps running statistics and a signature
    memory across blocks (module docstring: rules, scores, reverts).

    :param config: thresholds; the defaults when None.
    """

    def __init__(self, config: SvmDetectorConfig | None = None) -> None:
        self.config = config if config is not None else SvmDetectorConfig()
        known = self.config.ignored_accounts | WELL_KNOWN_ACCOUNTS
        self._known: frozenset[bytes] = frozenset(base58.b58decode(key) for key in known)
        #: Per program: (samples, mean, sum of squared deviations).
        self._stats: dict[str, tuple[int, float, float]] = {}
        #: Per signature: (block, status) of its first sighting within the kept blocks.
        self._seen: dict[str, tuple[int, str]] = {}
        self._undo: deque[_Undo] = deque()
        #: The newest block whose undo record was dropped: `revert` cannot go below it.
        self._sealed = -1

    # -- state ------------------------------------------------------------------------------------

    def program_stats(self) -> dict[str, ProgramStats]:
        """The running compute-unit statistics, by program id (base58), sorted."""
        out: dict[str, ProgramStats] = {}
        for program in sorted(self._stats):
            count, mean, m2 = self._stats[program]
            std = math.sqrt(m2 / (count - 1)) if count > 1 else 0.0
            out[program] = ProgramStats(samples=count, mean=mean, std=std)
        return out

    @property
    def newest(self) -> int | None:
        """The newest inspected block still on record, or None."""
        return self._undo[-1].number if self._undo else None

    def revert(self, number: int) -> None:
        """Forget what blocks `number` and above contributed, newest first.

        Blocks never inspected are ignored. Raises ValueError when a block at or below `number`
        is too old to undo (its record was dropped: deeper than `replay_window + revert_depth`).
        """
        if number <= self._sealed:
            raise ValueError(
                f"cannot revert block {number}: blocks up to {self._sealed} can no longer be undone"
            )
        while self._undo and self._undo[-1].number >= number:
            undo = self._undo.pop()
            for program, before in undo.stats_before.items():
                if before is None:
                    del self._stats[program]
                else:
                    self._stats[program] = before
            for signature, previous in reversed(undo.signatures):
                if previous is None:
                    del self._seen[signature]
                else:
                    self._seen[signature] = previous

    # -- one block --------------------------------------------------------------------------------

    def inspect(
        self, block: BlockInfo, transactions: Sequence[TransactionInfo]
    ) -> list[SvmFinding]:
        """The findings of one block; `transactions` in execution order. Updates the state."""
        number = block.number
        newest = self.newest
        if newest is not None and number <= newest:
            self.revert(number)
        txs = [_Tx.of(index, info) for index, info in enumerate(transactions)]
        undo = _Undo(number)
        findings = self._sandwiches(number, txs)
        findings.extend(self._spam(number, txs))
        findings.extend(self._replays(number, txs, undo))
        findings.extend(self._outliers(number, txs, undo))
        self._undo.append(undo)
        self._trim(number)
        return findings

    def _trim(self, number: int) -> None:
        keep_from = number - self.config.replay_window - self.config.revert_depth
        while self._undo and self._undo[0].number < keep_from:
            old = self._undo.popleft()
            for signature, _ in old.signatures:
                if self._seen.get(signature, (None, ""))[0] == old.number:
                    del self._seen[signature]
            self._sealed = max(self._sealed, old.number)

    # -- sandwiches -------------------------------------------------------------------------------

    def _sandwiches(self, number: int, txs: list[_Tx]) -> list[SvmFinding]:
        executed = [tx for tx in txs if tx.executed and tx.payer is not None and tx.signature]
        excluded = set(self._known)
        excluded.update(tx.payer for tx in executed if tx.payer is not None)
        excluded.update(base58.b58decode(p) for tx in executed for p in tx.programs)
        skip_builtin = self.config.sandwich_skip_builtin
        touching: dict[bytes, list[_Tx]] = {}
        for tx in executed:
            if skip_builtin and all(p in BUILTIN_PROGRAMS for p in tx.programs):
                continue
            for key in dict.fromkeys(tx.info.accounts[1:]):
                if key not in excluded:
                    touching.setdefault(key, []).append(tx)
        found: dict[tuple[int, int], _Legs] = {}
        for key, row in touching.items():
            if len(row) < 3:
                continue
            last: dict[bytes | None, int] = {}
            for at, tx in enumerate(row):
                before = last.get(tx.payer)
                if before is not None and at - before > 1:
                    front = row[before]
                    legs = found.setdefault((front.index, tx.index), _Legs(front, tx))
                    legs.accounts.add(key)
                    for victim in row[before + 1 : at]:
                        legs.victims[victim.index] = victim
                last[tx.payer] = at
        positions = [tx.index for tx in executed]
        out: list[SvmFinding] = []
        for (i, k), legs in sorted(found.items()):
            victims = [legs.victims[j] for j in sorted(legs.victims)]
            between = sum(1 for p in positions if i < p < k)
            accounts = sorted(_b58(key) for key in legs.accounts)
            assert legs.front.payer is not None and victims[0].payer is not None
            signer, victim_signer = _b58(legs.front.payer), _b58(victims[0].payer)
            signatures = [tx.signature for tx in (legs.front, *victims, legs.back) if tx.signature]
            out.append(
                SvmFinding(
                    kind="svm_sandwich",
                    block_number=number,
                    score=0.5 + 0.5 * len(victims) / between,
                    signatures=signatures,
                    accounts=accounts,
                    evidence={
                        "signer": signer,
                        "victim_signer": victim_signer,
                        "front_index": i,
                        "back_index": k,
                        "victims": len(victims),
                        "between": between,
                        "shared_accounts": len(accounts),
                    },
                    summary=(
                        f"{_short(signer)} has transactions at {i} and {k} of block {number} "
                        f"around {len(victims)} of {_short(victim_signer)}"
                        f"{' and others' if len({v.payer for v in victims}) > 1 else ''} "
                        f"on {len(accounts)} shared account(s) ({_short(accounts[0])})."
                    ),
                )
            )
        return out

    # -- spam -------------------------------------------------------------------------------------

    def _spam(self, number: int, txs: list[_Tx]) -> list[SvmFinding]:
        spam_min = self.config.spam_min
        totals: dict[bytes, int] = {}
        bad: dict[bytes, list[_Tx]] = {}
        for tx in txs:
            if tx.payer is None or tx.forged:
                continue
            totals[tx.payer] = totals.get(tx.payer, 0) + 1
            if tx.info.status != "ok":
                bad.setdefault(tx.payer, []).append(tx)
        out: list[SvmFinding] = []
        for payer, burst in bad.items():
            count = len(burst)
            if count < spam_min:
                continue
            total = totals[payer]
            failed = sum(1 for tx in burst if tx.info.status == "failed")
            fees = sum(tx.info.fee for tx in burst)
            who = _b58(payer)
            out.append(
                SvmFinding(
                    kind="spam",
                    block_number=number,
                    score=(count / total) * min(1.0, count / (2 * spam_min)),
                    signatures=[tx.signature for tx in burst if tx.signature],
                    accounts=[who],
                    evidence={
                        "bad": count,
                        "failed": failed,
                        "rejected": count - failed,
                        "total": total,
                        "fees": fees,
                        "spam_min": spam_min,
                    },
                    summary=(
                        f"{_short(who)} sent {count} failing or rejected transactions of {total} "
                        f"in block {number} ({failed} failed, {count - failed} rejected, "
                        f"{fees} lamports of fees)."
                    ),
                )
            )
        return out

    # -- replays ----------------------------------------------------------------------------------

    def _replays(self, number: int, txs: list[_Tx], undo: _Undo) -> list[SvmFinding]:
        window_start = number - self.config.replay_window
        here: dict[str, tuple[int, str]] = {}
        first: dict[str, tuple[int, str]] = {}
        repeats: dict[str, list[_Tx]] = {}
        for tx in txs:
            signature = tx.signature
            if signature is None or tx.forged:
                continue
            earlier = self._seen.get(signature)
            if earlier is not None and earlier[0] < window_start:
                earlier = None  # out of the window: as if never seen
            if earlier is None:
                earlier = here.get(signature)
            if earlier is None and tx.info.reason == _ALREADY_PROCESSED:
                # The node saw it executed before the detector's memory (or before it started).
                earlier = (-1, "unknown")
            if earlier is not None:
                first.setdefault(signature, earlier)
                repeats.setdefault(signature, []).append(tx)
            here.setdefault(signature, (number, tx.info.status))
        for signature, sighting in here.items():
            previous = self._seen.get(signature)
            if previous is None or previous[0] < window_start:
                self._seen[signature] = sighting
                undo.signatures.append((signature, previous))
        out: list[SvmFinding] = []
        for signature, copies in repeats.items():
            first_block, first_status = first[signature]
            confirmed = first_status in _EXECUTED or any(
                tx.info.reason == _ALREADY_PROCESSED for tx in copies
            )
            payer = copies[0].payer
            outcome = ", ".join(tx.info.reason or tx.info.status for tx in copies)
            where = "an unknown block" if first_block < 0 else f"block {first_block}"
            out.append(
                SvmFinding(
                    kind="replay",
                    block_number=number,
                    score=1.0 if confirmed else 0.5,
                    signatures=[signature],
                    accounts=[] if payer is None else [_b58(payer)],
                    evidence={
                        "copies": len(copies),
                        "first_block": first_block,
                        "first_status": first_status,
                        "index": copies[0].index,
                        "outcome": outcome,
                    },
                    summary=(
                        f"Signature {_short(signature)} came again {len(copies)} time(s) in "
                        f"block {number} ({outcome}), first seen {first_status} in {where}."
                    ),
                )
            )
        return out

    # -- compute-unit outliers --------------------------------------------------------------------

    def _outliers(self, number: int, txs: list[_Tx], undo: _Undo) -> list[SvmFinding]:
        # numpy is imported where it is used, once a block: `monmouth --help` imports this
        # package to offer `monmouth mev`, and numpy would be a fifth of its start-up.
        import numpy as np

        samples: dict[str, list[tuple[_Tx, float]]] = {}
        for tx in txs:
            if not tx.executed:
                continue
            units = program_compute_units(tx.info.logs, tx.info.compute_units)
            for program, value in units.items():
                samples.setdefault(program, []).append((tx, value))
        k, floor, min_samples = (
            self.config.cu_k,
            self.config.cu_std_floor,
            self.config.cu_min_samples,
        )
        flagged: list[tuple[int, str, SvmFinding]] = []
        for program in sorted(samples):
            rows = samples[program]
            values = np.fromiter((value for _, value in rows), dtype=np.float64, count=len(rows))
            before = self._stats.get(program)
            if before is not None and before[0] >= min_samples:
                count, mean, m2 = before
                std = math.sqrt(m2 / (count - 1))
                scale = max(std, floor * mean, 1.0)
                z = (values - mean) / scale
                for at in np.flatnonzero(z > k):
                    tx, value = rows[int(at)]
                    flagged.append(
                        (
                            tx.index,
                            program,
                            self._outlier(number, tx, program, value, float(z[at]), before, std),
                        )
                    )
            undo.stats_before[program] = before
            self._stats[program] = _merge(before, values)
        flagged.sort(key=lambda item: (item[0], item[1]))
        return [finding for _, _, finding in flagged]

    def _outlier(
        self,
        number: int,
        tx: _Tx,
        program: str,
        value: float,
        z: float,
        before: tuple[int, float, float],
        std: float,
    ) -> SvmFinding:
        k = self.config.cu_k
        payer = "" if tx.payer is None else _b58(tx.payer)
        count, mean, _ = before
        return SvmFinding(
            kind="cu_outlier",
            block_number=number,
            score=1.0 - k / z,
            signatures=[tx.signature] if tx.signature else [],
            accounts=[payer, program] if payer else [program],
            evidence={
                "program": program,
                "compute_units": value,
                "transaction_compute_units": tx.info.compute_units,
                "mean": mean,
                "std": std,
                "z": z,
                "samples": count,
                "index": tx.index,
            },
            summary=(
                f"Transaction {_short(tx.signature or '?')} spent {value:.0f} compute units in "
                f"{_short(program)} in block {number}, {z:.1f} deviations above its mean of "
                f"{mean:.0f} over {count} samples."
            ),
        )


def _merge(
    before: tuple[int, float, float] | None, values: np.ndarray[tuple[int], np.dtype[np.float64]]
) -> tuple[int, float, float]:
    """Running (samples, mean, squared deviations) with a block's values added (Chan et al.)."""
    import numpy as np

    n_b = int(values.size)
    mean_b = float(values.mean())
    m2_b = float(np.square(values - mean_b).sum())
    if before is None:
        return n_b, mean_b, m2_b
    n_a, mean_a, m2_a = before
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * n_b / n, m2_a + m2_b + delta * delta * n_a * n_b / n
