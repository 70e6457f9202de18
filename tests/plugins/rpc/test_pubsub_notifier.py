"""The PubSub notifier's bookkeeping, on a real (empty) LMDB store: what a program subscription
sends when the same accounts come back in later wake-ups, as after a reorg."""

from __future__ import annotations

import json
from pathlib import Path

from monmouth.core.state import Store
from monmouth.plugins.rpc.pubsub import Notifier
from monmouth.plugins.rpc.snapshot import Snapshot
from monmouth.rust_svm.accounts import encode_account_fields

SYSTEM = bytes(32)
SYSTEM_B58 = "11111111111111111111111111111111"


class Collect:
    """A connection that keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []

    def push(self, message: bytes, *, answer: bool = False) -> None:
        self.messages.append(json.loads(message))


def test_a_program_subscription_notifies_a_value_once(tmp_path: Path) -> None:
    with Store(tmp_path / "data", sync=False) as store:
        notifier = Notifier(store, max_subscriptions=10)
        sink = Collect()
        config = {"encoding": "base64", "commitment": "processed"}
        notifier.call(sink, "programSubscribe", [SYSTEM_B58, config])
        alice, bob = b"\x01" * 32, b"\x02" * 32
        funded = {
            alice: encode_account_fields(5, SYSTEM, False, 0, b""),
            bob: encode_account_fields(7, SYSTEM, False, 0, b""),
        }
        state = dict(funded)

        def wake(changed: list[bytes]) -> int:
            before = len(sink.messages)
            with store.read() as view:
                snap = Snapshot(view)
                notifier._accounts(view, snap, "processed", 1, changed, state.get)
            return len(sink.messages) - before

        assert wake([alice, bob]) == 2
        # A revert names them again with the values they had: nothing new to say.
        assert wake([alice, bob]) == 0
        state[alice] = encode_account_fields(9, SYSTEM, False, 0, b"")
        assert wake([alice, bob]) == 1  # only what changed
        state[alice] = funded[alice]
        assert wake([alice]) == 1  # changed back is a change
        assert all(m["method"] == "programNotification" for m in sink.messages)
