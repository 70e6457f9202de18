"""Topic prefixes: which messages a set of subscriptions wants (ZeroMQ's prefix rule).

A topic's family is its first segment (`account/PK/` is of family `account`). The publisher asks
first whether any subscription can match a family, so that a message nobody wants costs no
topic formatting and no encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class PrefixSet:
    """A set of subscribed topic prefixes, matched the way a ZeroMQ SUB socket matches them."""

    def __init__(self, prefixes: Iterable[str] = ()) -> None:
        self._prefixes: set[str] = set(prefixes)
        self._families: dict[str, tuple[str, ...]] = {}

    def add(self, prefix: str) -> None:
        self._prefixes.add(prefix)
        self._families.clear()

    def discard(self, prefix: str) -> None:
        self._prefixes.discard(prefix)
        self._families.clear()

    def __bool__(self) -> bool:
        return bool(self._prefixes)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._prefixes))

    def __len__(self) -> int:
        return len(self._prefixes)

    def relevant(self, family: str) -> tuple[str, ...]:
        """The prefixes that can match some topic of `family`."""
        found = self._families.get(family)
        if found is None:
            head = family + "/"
            found = tuple(
                sorted(p for p in self._prefixes if p.startswith(head) or head.startswith(p))
            )
            self._families[family] = found
        return found

    def matching(self, topic: str) -> list[str]:
        """The prefixes `topic` falls under."""
        family = topic.split("/", 1)[0]
        return [p for p in self.relevant(family) if topic.startswith(p)]


def kind_prefix(kind: str) -> str:
    """The prefix that subscribes to every message of one kind (one copy of each)."""
    return kind + "/"


def filter_prefixes(
    *,
    kinds: Iterable[str] = (),
    accounts: Iterable[str] = (),
    owners: Iterable[str] = (),
    signatures: Iterable[str] = (),
    mentions: Iterable[str] = (),
    include_failed: bool = True,
) -> list[str]:
    """Subscription prefixes for the usual filters (base58 keys and signatures).

    :param kinds: whole kinds (`block`, `transaction`, `mev`, ...).
    :param accounts: account updates of these pubkeys.
    :param owners: account updates of accounts owned by these programs.
    :param signatures: these transactions.
    :param mentions: transactions that name these accounts.
    :param include_failed: whether `signatures` and `mentions` include failed and rejected
        transactions (kinds are whole: use `transaction/ok/` for successful ones only).
    """
    statuses = ("ok", "failed", "rejected") if include_failed else ("ok",)
    out = [kind_prefix(k) for k in kinds]
    out += [f"account/{pk}/" for pk in accounts]
    out += [f"owner/{pk}/" for pk in owners]
    out += [f"transaction/{s}/{sig}/" for sig in signatures for s in statuses]
    out += [f"mention/{s}/{pk}/" for pk in mentions for s in statuses]
    return list(dict.fromkeys(out))
