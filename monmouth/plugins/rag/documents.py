"""Documents: one executed Solana transaction as a readable summary and its facts.

`summarize` is a pure function of the transaction's payload (`TransactionInfo`), the account
writes it made (`AccountUpdate`s with its signature) and the state of those accounts before it
(`Prior`, which the plugin keeps, see `balances.py`). The same inputs give the same document,
byte for byte, on every machine: nothing reads the clock, and nothing iterates a set.

`TransactionInfo` carries no instructions, so what the transaction did is read from what it left:

- **programs invoked**: the top-level `Program <id> invoke [1]` lines of its logs, in order (one
  per instruction that ran); for a transaction without logs, the known programs among its keys;
- **signers**: the first `fee / 5000` account keys (the fee is 5000 lamports per signature, and
  a message lists its signers first); index 0 is the fee payer;
- **amounts moved**: each written account's lamports after minus before (the fee taken out of
  the payer's), and for SPL Token accounts and mints the token amount and supply likewise;
- **instruction kinds**: a program's own `Program log: Instruction: X` line when it logs one;
  otherwise from the effects: a system instruction that created an account is `create_account`,
  one that moved lamports `transfer`; SPL Token instructions are `initialize_mint`,
  `initialize_account`, `mint_to`, `burn` or `transfer` by the accounts they created and the
  amounts and supply they changed; failed ones by their error log line.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import msgspec
from solders.pubkey import Pubkey
from solders.signature import Signature

from monmouth.core.b58 import KeyNames
from monmouth.plugins.rag.embed import words

try:
    from monmouth.plugins.rag import _summary
except ImportError:  # installed without a C compiler: `summarize_changes_py` makes every one
    _summary = None  # type: ignore[assignment]

#: Which implementation makes documents: "c" (`_summary.c`) or "python" (`summarize_changes_py`).
IMPLEMENTATION = "python" if _summary is None else "c"

if TYPE_CHECKING:
    from monmouth.core.payloads import AccountUpdate, TransactionInfo

__all__ = [
    "FEE_PER_SIGNATURE",
    "PROGRAM_NAMES",
    "Changes",
    "Document",
    "Movement",
    "Prior",
    "changes_of",
    "encode_key",
    "summarize",
    "summarize_changes",
    "summarize_changes_py",
]

#: Lamports per signature: the fee tells how many signers a transaction has.
FEE_PER_SIGNATURE: Final = 5000
SYSTEM_PROGRAM: Final = bytes(32)
TOKEN_PROGRAM: Final = bytes(Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"))
TOKEN_2022_PROGRAM: Final = bytes(Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"))
MINT_SIZE: Final = 82
TOKEN_ACCOUNT_SIZE: Final = 165
_U64 = struct.Struct("<Q")

#: Programs called by name in summaries (and accepted by name in query filters).
PROGRAM_NAMES: Final[dict[str, str]] = {
    "11111111111111111111111111111111": "system",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA": "token",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb": "token-2022",
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL": "associated-token",
    "ComputeBudget111111111111111111111111111111": "compute-budget",
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr": "memo",
    "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo": "memo-v1",
    "Vote111111111111111111111111111111111111111": "vote",
    "Stake11111111111111111111111111111111111111": "stake",
    "AddressLookupTab1e1111111111111111111111111": "address-lookup-table",
    "BPFLoaderUpgradeab1e11111111111111111111111": "bpf-loader-upgradeable",
    "BPFLoader2111111111111111111111111111111111": "bpf-loader",
}
_TOKEN_NAMES: Final = ("token", "token-2022")
#: Custom error codes of the programs we name (`{"Custom": n}`), for readable errors.
_CUSTOM_ERRORS: Final[dict[str, dict[int, str]]] = {
    "system": {
        0: "account already in use",
        1: "insufficient lamports",
        2: "invalid program id",
        3: "invalid account data length",
        4: "max seed length exceeded",
        5: "address with seed mismatch",
    },
    "token": {
        0: "not rent exempt",
        1: "insufficient funds",
        2: "invalid mint",
        3: "mint mismatch",
        4: "owner mismatch",
        5: "fixed supply",
        6: "already in use",
        11: "uninitialized state",
        17: "account frozen",
    },
}
_CUSTOM_ERRORS["token-2022"] = _CUSTOM_ERRORS["token"]
_INVOKE = re.compile(r"^Program (\w+) invoke \[(\d+)\]$")
_INSTRUCTION_LOG = re.compile(r"^Program log: Instruction: (\w+)")
_LAMPORTS_SHORT = re.compile(r"^Transfer: insufficient lamports (\d+), need (\d+)")
#: Log lines that only repeat what `programs` says: left out of the summary's "Logs".
_BOILERPLATE = re.compile(
    r"^Program \w+ (invoke \[\d+\]|success|consumed \d+ of \d+ compute units)$"
)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
#: Base58 names of the keys seen lately (`encode_key`).
_keys = KeyNames(200_000)
_key_cache = _keys.names
#: What a transaction's logs say (`_LogFacts`), by the logs and `max_log_lines`: most
#: transactions of a kind log the very same lines, and reading them costs regex matches.
_log_cache: dict[tuple[tuple[str, ...], int], _LogFacts] = {}
_LOG_CACHE_SIZE = 4096
#: The summary's first-line "kinds" text and its words, by the instructions it lists; the
#: words of its "Programs" line, by the programs.
_kinds_text_cache: dict[tuple[str, ...], tuple[str, list[str]]] = {}
_program_words_cache: dict[tuple[str, ...], list[str]] = {}


class Movement(msgspec.Struct, frozen=True, array_like=True):
    """How one transaction changed one balance of one account.

    :ivar account: the account, base58.
    :ivar asset: `SOL` (lamports), or the mint (base58) of an SPL token account's amount, or
        `supply:<mint>` for a mint's supply.
    :ivar delta: the change in base units (lamports, token units), signed; the fee is not part
        of the fee payer's.
    """

    account: str
    asset: str
    delta: int


class Document(msgspec.Struct, frozen=True, array_like=True):
    """One executed transaction, indexed: its facts and its readable summary.

    :ivar id: the index's key for it (a counter; a reverted transaction's id is not reused).
    :ivar signature: the first signature, base58.
    :ivar slot: the L1 block number it executed in; `block_hash` that block's hash (`0x` hex).
    :ivar status: `ok` or `failed`.
    :ivar signers: the signing keys, fee payer first (see the module docstring).
    :ivar programs: the programs invoked, by name when known (`PROGRAM_NAMES`), in call order,
        each once.
    :ivar instructions: one `program.kind` per instruction that ran, in order.
    :ivar accounts: every static account key, in message order.
    :ivar movements: balance changes, in write order; empty when the plugin did not know the
        accounts' balances before the transaction.
    :ivar error: the runtime's error in words, for `failed`.
    :ivar logs: the program log lines (at most the plugin's `max_log_lines`).
    :ivar summary: the text that is embedded and shown.
    """

    id: int
    signature: str
    slot: int
    block_hash: str
    l1_tx_hash: str
    l1_tx_index: int
    position: int
    status: str
    fee: int
    compute_units: int
    fee_payer: str
    signers: tuple[str, ...]
    programs: tuple[str, ...]
    instructions: tuple[str, ...]
    accounts: tuple[str, ...]
    movements: tuple[Movement, ...]
    error: str | None
    logs: tuple[str, ...]
    summary: str

    def to_json(self) -> dict[str, Any]:
        """The document as plain JSON data (lists, movements as objects), in field order."""
        data: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if name == "movements":
                value = [{"account": m.account, "asset": m.asset, "delta": m.delta} for m in value]
            elif isinstance(value, tuple):
                value = list(value)
            data[name] = value
        return data


class Prior(msgspec.Struct, frozen=True, array_like=True):
    """What the plugin knew of an account before a write.

    :ivar lamports: its lamports (0: it did not exist).
    :ivar kind: 0 a system account without data (or none), 1 an SPL token account, 2 a mint,
        3 another account owned by a program or holding data.
    :ivar amount: a token account's amount, a mint's supply (0 otherwise).
    :ivar mint: a token account's mint (32 bytes), else empty.
    """

    lamports: int
    kind: int = 0
    amount: int = 0
    mint: bytes = b""

    @classmethod
    def of(cls, update: AccountUpdate) -> Prior:
        """The state an account write leaves."""
        data = update.data
        if update.owner in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM) and update.lamports:
            if len(data) == TOKEN_ACCOUNT_SIZE:
                return cls(update.lamports, 1, _U64.unpack_from(data, 64)[0], bytes(data[:32]))
            if len(data) == MINT_SIZE:
                return cls(update.lamports, 2, _U64.unpack_from(data, 36)[0])
        if update.lamports and (update.owner != SYSTEM_PROGRAM or data):
            return cls(update.lamports, 3)
        return cls(update.lamports)


#: An account that did not exist.
ABSENT: Final = Prior(0)


def encode_keys(keys: Sequence[bytes]) -> tuple[str, ...]:
    """`encode_key` of each key (one cache lookup each, in C, when all are known)."""
    texts = tuple(map(_key_cache.get, keys))
    if None in texts:
        return tuple(encode_key(key) for key in keys)
    return texts  # type: ignore[return-value]  # no None: checked above


def encode_key(key: bytes) -> str:
    """A public key in base58 (cached: keys repeat, and encoding costs more than a lookup)."""
    return _keys(key)


def program_name(key: str) -> str:
    """A program's name when we know it, else its base58 key."""
    return PROGRAM_NAMES.get(key, key)


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _invoked(logs: Sequence[str]) -> list[tuple[str, str | None]]:
    """(program key, logged instruction name or None) per top-level instruction that ran."""
    out: list[tuple[str, str | None]] = []
    for line in logs:
        match = _INVOKE.match(line)
        if match is not None:
            if match.group(2) == "1":
                out.append((match.group(1), None))
            continue
        named = _INSTRUCTION_LOG.match(line)
        if named is not None and out and out[-1][1] is None:
            out[-1] = (out[-1][0], _snake(named.group(1)))
    return out


class _LogFacts(NamedTuple):
    """What `summarize` reads from a transaction's logs alone."""

    invoked: tuple[tuple[str, str | None], ...]
    #: The programs invoked, by name, each once (empty: none logged an invoke).
    programs: tuple[str, ...]
    #: `transfer` when the logs say a transfer ran short (the failed instruction's kind).
    failure_kind: str | None
    #: The first `max_log_lines` lines, and those of them that say more than `programs`.
    kept: tuple[str, ...]
    said: tuple[str, ...]
    #: The words (`embed.words`) of `said` joined as the summary joins them.
    said_words: list[str]


def _log_facts(logs: tuple[str, ...], max_log_lines: int) -> _LogFacts:
    key = (logs, max_log_lines)
    facts = _log_cache.get(key)
    if facts is None:
        invoked = tuple(_invoked(logs))
        failure_kind = None
        for line in logs:
            if _LAMPORTS_SHORT.match(line) or line == "Program log: Error: insufficient funds":
                failure_kind = "transfer"
        kept = logs[:max_log_lines]
        said = tuple(line for line in kept if not _BOILERPLATE.match(line))
        facts = _LogFacts(
            invoked,
            tuple(dict.fromkeys(program_name(key) for key, _ in invoked)),
            failure_kind,
            kept,
            said,
            words(" | ".join(said)),
        )
        if len(_log_cache) >= _LOG_CACHE_SIZE:
            _log_cache.clear()
        _log_cache[key] = facts
    return facts


def _kinds_text(instructions: tuple[str, ...]) -> tuple[str, list[str]]:
    """The first line's account of what ran (`system transfer, token call`), and its words."""
    known = _kinds_text_cache.get(instructions)
    if known is None:
        if len(_kinds_text_cache) >= _LOG_CACHE_SIZE:
            _kinds_text_cache.clear()
        text = ", ".join(dict.fromkeys(i.replace(".", " ").replace("_", " ") for i in instructions))
        text = text or "no instruction ran"
        known = _kinds_text_cache[instructions] = (text, words(text))
    return known


def _program_words(programs: tuple[str, ...]) -> list[str]:
    """The words of the summary's "Programs" line after its label."""
    known = _program_words_cache.get(programs)
    if known is None:
        if len(_program_words_cache) >= _LOG_CACHE_SIZE:
            _program_words_cache.clear()
        known = _program_words_cache[programs] = words(", ".join(programs) or "none")
    return known


def _error_text(error: Any, invoked: Sequence[tuple[str, str | None]]) -> tuple[str, int | None]:
    """The runtime's error in words, and the failed instruction's index when it names one."""
    if isinstance(error, dict) and "InstructionError" in error:
        index, inner = error["InstructionError"]
        program = program_name(invoked[index][0]) if 0 <= index < len(invoked) else None
        where = f"instruction {index}" + (f" ({program})" if program else "")
        if isinstance(inner, dict) and "Custom" in inner:
            code = int(inner["Custom"])
            known = _CUSTOM_ERRORS.get(program or "", {}).get(code)
            what = f"custom program error {code}" + (f" ({known})" if known else "")
        elif isinstance(inner, str):
            what = _snake(inner).replace("_", " ")
        else:
            what = msgspec.json.encode(inner).decode()
        return f"{where} failed: {what}", int(index)
    if isinstance(error, str):
        return _snake(error).replace("_", " "), None
    return msgspec.json.encode(error).decode(), None


def _sol(lamports: int) -> str:
    whole, frac = divmod(abs(lamports), 10**9)
    text = str(whole) if not frac else f"{whole}.{frac:09d}".rstrip("0")
    return f"{text} SOL"


def _amount(asset: str, units: int) -> str:
    if asset == "SOL":
        return _sol(units)
    if asset.startswith("supply:"):
        return f"{units} units of token {asset[7:]} (supply)"
    return f"{units} units of token {asset}"


def _moves_text(movements: Sequence[Movement]) -> list[str]:
    """Movements in words: `X from A to B` when one account lost what one other gained."""
    by_asset: dict[str, list[Movement]] = {}
    for move in movements:
        by_asset.setdefault(move.asset, []).append(move)
    out: list[str] = []
    for asset, moves in by_asset.items():
        losers = [m for m in moves if m.delta < 0]
        gainers = [m for m in moves if m.delta > 0]
        if (
            len(losers) == 1
            and len(gainers) == 1
            and losers[0].delta + gainers[0].delta == 0
            and not asset.startswith("supply:")
        ):
            out.append(
                f"{_amount(asset, gainers[0].delta)} from {losers[0].account} "
                f"to {gainers[0].account}"
            )
            continue
        for move in moves:
            sign = "+" if move.delta > 0 else "-"
            out.append(f"{move.account} {sign}{_amount(asset, abs(move.delta))}")
    return out


def _kinds(
    invoked: Sequence[tuple[str, str | None]],
    movements: Sequence[Movement],
    created: Mapping[str, Prior],
    failure_kind: str | None,
    failed_at: int | None,
) -> list[str]:
    """`program.kind` per top-level instruction (module docstring, "instruction kinds")."""
    names = [program_name(key) for key, _ in invoked]
    # What the effects say, per program, in the order the instructions most likely made them.
    # A fresh system account is a transfer's recipient; an owned one came from create_account.
    system_created = sum(1 for prior in created.values() if prior.kind)
    token_effects: list[str] = []
    for prior in created.values():
        if prior.kind == 2:
            token_effects.append("initialize_mint")
        elif prior.kind == 1:
            token_effects.append("initialize_account")
    supply = [m for m in movements if m.asset.startswith("supply:")]
    token_moves = [m for m in movements if m.asset != "SOL" and not m.asset.startswith("supply:")]
    for move in supply:
        token_effects.append("mint_to" if move.delta > 0 else "burn")
    if not supply and any(m.delta < 0 for m in token_moves):
        token_effects.append("transfer")
    out: list[str] = []
    for i, ((_, logged), name) in enumerate(zip(invoked, names, strict=True)):
        kind: str
        if logged is not None:
            kind = logged
        elif i == failed_at and failure_kind is not None:
            kind = failure_kind
        elif name == "system":
            kind = "create_account" if system_created > 0 else "transfer"
            system_created -= 1 if system_created > 0 else 0
        elif name in _TOKEN_NAMES:
            kind = token_effects.pop(0) if token_effects else "call"
        else:
            kind = "call"
        out.append(f"{name}.{kind}")
    return out


#: What one transaction did to the accounts it wrote: each account (in the order of their first
#: writes) → its state before the transaction (None: unknown) and after its last write.
Changes = Mapping[bytes, tuple[Prior | None, Prior]]


def changes_of(
    writes: Sequence[AccountUpdate], priors: Mapping[bytes, Prior | None]
) -> dict[bytes, tuple[Prior | None, Prior]]:
    """The `Changes` of a transaction's `writes`, given each account's state before it."""
    changes: dict[bytes, tuple[Prior | None, Prior]] = {}
    for update in writes:
        key = update.pubkey
        known = changes.get(key)
        before = priors.get(key) if known is None else known[0]
        changes[key] = (before, Prior.of(update))
    return changes


def _movements(tx: TransactionInfo, changes: Changes) -> tuple[list[Movement], dict[str, Prior]]:
    """Balance changes of `tx`, and the accounts it created (base58 → state after)."""
    payer = tx.accounts[0] if tx.accounts else None
    moves: list[Movement] = []
    created: dict[str, Prior] = {}
    for key, (before, after) in changes.items():
        if before is None:
            continue  # the plugin did not know this account before: its change is unknown
        name = encode_key(key)
        if before.lamports == 0 and after.lamports:
            created[name] = after
        delta = after.lamports - before.lamports + (tx.fee if key == payer else 0)
        if delta:
            moves.append(Movement(name, "SOL", delta))
        if after.kind == 1 and (before.kind in (0, 1)):
            change = after.amount - (before.amount if before.kind == 1 else 0)
            if change:
                moves.append(Movement(name, encode_key(after.mint), change))
        elif after.kind == 2 and before.kind in (0, 2):
            change = after.amount - (before.amount if before.kind == 2 else 0)
            if change:
                moves.append(Movement(name, f"supply:{name}", change))
    return moves, created


def summarize(
    doc_id: int,
    tx: TransactionInfo,
    slot: int,
    block_hash: bytes,
    writes: Sequence[AccountUpdate],
    priors: Mapping[bytes, Prior | None],
    *,
    max_log_lines: int = 8,
) -> Document:
    """The document of one executed transaction (status `ok` or `failed`).

    :param writes: the account writes the transaction made, in write order.
    :param priors: the state before the transaction of each account it wrote; None (or no
        entry) when the plugin does not know it.
    :param max_log_lines: log lines kept (in `logs`, and the informative ones in the summary).
    """
    changes = changes_of(writes, priors)
    return summarize_changes(doc_id, tx, slot, block_hash, changes, max_log_lines=max_log_lines)[0]


def summarize_changes(
    doc_id: int,
    tx: TransactionInfo,
    slot: int,
    block_hash: bytes,
    changes: Changes,
    *,
    max_log_lines: int = 8,
) -> tuple[Document, list[str]]:
    """`summarize` of a transaction given by its `Changes` (a block's writes give every
    transaction's at once: `worker.block_documents`), and the words of the summary
    (`embed.words(document.summary)`).

    Made in C (`_summary.c`, about a fifth of the cost); `summarize_changes_py` is the
    definition, which the C code defers to for what it does not handle (integers beyond 64
    bits, changes that are not a dict, values of unexpected types) and which the tests hold
    it equal to."""
    made = (
        None
        if _summary is None
        else _summary.summarize(doc_id, tx, slot, block_hash, changes, max_log_lines)
    )
    if made is None:
        return summarize_changes_py(
            doc_id, tx, slot, block_hash, changes, max_log_lines=max_log_lines
        )
    return made


def summarize_changes_py(
    doc_id: int,
    tx: TransactionInfo,
    slot: int,
    block_hash: bytes,
    changes: Changes,
    *,
    max_log_lines: int = 8,
) -> tuple[Document, list[str]]:
    """`summarize_changes` in Python: the definition. The words are put together from the
    summary's parts (most of them cached) instead of searched for in the text."""
    if tx.signature is None or tx.status == "rejected":
        raise ValueError("only executed transactions become documents")
    signature = _signature_text(tx.signature)
    accounts = encode_keys(tx.accounts)
    count = max(1, min(len(accounts), tx.fee // FEE_PER_SIGNATURE)) if accounts else 0
    signers = accounts[:count]
    facts = _log_facts(tuple(tx.logs), max_log_lines)
    invoked = facts.invoked
    if invoked:
        programs = facts.programs
    else:
        programs = tuple(program_name(key) for key in accounts if key in PROGRAM_NAMES)
    error, failed_at = (None, None) if tx.error is None else _error_text(tx.error, invoked)
    movements, created = _movements(tx, changes)
    instructions = tuple(_kinds(invoked, movements, created, facts.failure_kind, failed_at))
    logs = facts.kept
    fee_payer = accounts[0] if accounts else ""

    kinds, kind_words = _kinds_text(instructions)
    # Each line ends in a non-word character, so the summary's words are its lines' words;
    # keys and signatures are base58 (one word each), fee and units plain integers.
    lines = [f"{tx.status} transaction {signature} in slot {slot}: {kinds}."]
    said = [tx.status, "transaction", signature, "in", "slot", str(slot), *kind_words]
    moved = _moves_text(movements)
    if moved:
        lines.append("Moved " + "; ".join(moved) + ".")
        said += words(lines[-1])
    if error is not None:
        lines.append(f"Error: {error}.")
        said += words(lines[-1])
    lines.append(f"Fee payer {fee_payer} paid {tx.fee} lamports; {tx.compute_units} compute units.")
    if tx.fee >= 0 and tx.compute_units >= 0 and fee_payer:
        said += ["Fee", "payer", fee_payer, "paid", str(tx.fee), "lamports"]
        said += [str(tx.compute_units), "compute", "units"]
    else:
        said += words(lines[-1])
    lines.append("Signers: " + ", ".join(signers) + ".")
    said.append("Signers")
    said += signers
    lines.append("Programs: " + (", ".join(programs) or "none") + ".")
    said.append("Programs")
    said += _program_words(programs)
    lines.append("Accounts: " + ", ".join(accounts) + ".")
    said.append("Accounts")
    said += accounts
    if facts.said:
        lines.append("Logs: " + " | ".join(facts.said))
        said.append("Logs")
        said += facts.said_words
    document = Document(
        id=doc_id,
        signature=signature,
        slot=slot,
        block_hash="0x" + block_hash.hex(),
        l1_tx_hash="0x" + tx.l1_tx_hash.hex(),
        l1_tx_index=tx.l1_tx_index,
        position=tx.position,
        status=tx.status,
        fee=tx.fee,
        compute_units=tx.compute_units,
        fee_payer=fee_payer,
        signers=signers,
        programs=programs,
        instructions=instructions,
        accounts=accounts,
        movements=tuple(movements),
        error=error,
        logs=logs,
        summary="\n".join(lines),
    )
    return document, said


def _signature_text(signature: bytes) -> str:
    return str(Signature.from_bytes(signature))


if _summary is not None:
    _summary.configure(
        _log_facts,
        _log_cache,
        _error_text,
        encode_key,
        _key_cache,
        Signature.from_bytes,
        _kinds_text,
        _kinds_text_cache,
        _program_words,
        _program_words_cache,
        words,
        PROGRAM_NAMES,
        Document,
        Movement,
    )
