"""Where PubSub listens (`[plugins.rpc] pubsub_address`, else the JSON-RPC port + 1) and what
the plugin sends down the child's stdin (one decoder takes relay answers and node events)."""

from __future__ import annotations

import msgspec
import pytest
from pydantic import ValidationError

from monmouth.plugins.rpc.config import Config
from monmouth.plugins.rpc.messages import (
    Committed,
    RelayAnswer,
    Resync,
    Reverted,
    SlotStatus,
    ToServer,
)


def test_pubsub_address_defaults_to_the_next_port() -> None:
    assert Config().pubsub == "127.0.0.1:8900"
    assert Config(address="0.0.0.0:9000").pubsub == "0.0.0.0:9001"
    assert Config(address="[::1]:8899").pubsub == "[::1]:8900"
    # Port 0 (a free port, tests) stays 0: port 1 is no free port.
    assert Config(address="127.0.0.1:0").pubsub == "127.0.0.1:0"


def test_pubsub_address_set_or_off() -> None:
    assert Config(pubsub_address="127.0.0.1:7000").pubsub == "127.0.0.1:7000"
    assert Config(pubsub_address="none").pubsub is None
    assert Config(address="none").pubsub is None
    with pytest.raises(ValidationError):
        Config(pubsub_address="nowhere")


def test_one_decoder_takes_answers_and_events() -> None:
    encode = msgspec.msgpack.Encoder().encode
    decode = msgspec.msgpack.Decoder(ToServer).decode
    messages: list[ToServer] = [
        RelayAnswer(3, -32600, "no relay"),
        Committed(12, b"\x01" * 32),
        Reverted([(12, b"\x01" * 32), (11, b"\x02" * 32)]),
        SlotStatus(10, 9, "finalized"),
        Resync(),
    ]
    assert [decode(encode(m)) for m in messages] == messages
