"""`monmouth subscribe`: the event stream of a node, printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from monmouth.commands import JsonFlag, guard
from monmouth.core.errors import UserError


def _json_value(value: Any) -> Any:
    """Bytes in a body become base64 text, as Solana JSON-RPC shows account data."""
    import msgspec

    return msgspec.to_builtins(value, enc_hook=None)


def subscribe(
    endpoint: Annotated[
        str, typer.Option("--endpoint", help="The publisher (a node's --publish).")
    ] = "tcp://127.0.0.1:7700",
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="A kind: block, slot, transaction, detail, writes, account, revert, "
            "heartbeat, alert, or a plugin's (repeatable).",
        ),
    ] = None,
    account_filter: Annotated[
        list[str] | None, typer.Option("--account", help="Updates of this account (repeatable).")
    ] = None,
    owner: Annotated[
        list[str] | None,
        typer.Option("--owner", help="Updates of accounts owned by this program (repeatable)."),
    ] = None,
    signature: Annotated[
        list[str] | None, typer.Option("--signature", help="This transaction (repeatable).")
    ] = None,
    mention: Annotated[
        list[str] | None,
        typer.Option("--mention", help="Transactions that name this account (repeatable)."),
    ] = None,
    no_failed: Annotated[
        bool,
        typer.Option(
            "--no-failed",
            help="Leave out failed and rejected transactions (--signature, --mention).",
        ),
    ] = False,
    from_height: Annotated[
        int | None,
        typer.Option("--from-height", min=0, help="Replay from this L1 height, then go live."),
    ] = None,
    from_seq: Annotated[
        int | None,
        typer.Option("--from-seq", min=0, help="Resume at this sequence number (last seen + 1)."),
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after N messages.")
    ] = None,
    curve_key: Annotated[
        Path | None, typer.Option("--curve-key", help="Your CURVE secret key file.")
    ] = None,
    server_key: Annotated[
        Path | None, typer.Option("--server-key", help="The publisher's CURVE public key file.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print the event stream: one line per message (one JSON object with --json: seq, kind,
    height, topic, replayed, payload). Gaps are replayed by themselves; what the publisher no
    longer has arrives as a message of kind gap."""
    from monmouth.core.logs import configure_logging
    from monmouth.stream.security import ClientCurve
    from monmouth.stream.subscriber import Subscriber

    def body() -> None:
        if (curve_key is None) != (server_key is None):
            raise UserError("--curve-key and --server-key go together")
        if from_height is not None and from_seq is not None:
            raise UserError("give --from-height or --from-seq, not both")
        curve = None
        if curve_key is not None and server_key is not None:
            curve = ClientCurve.load(curve_key, server_key)
        configure_logging("warning")
        subscriber = Subscriber(
            endpoint,
            kinds=kind or (),
            accounts=account_filter or (),
            owners=owner or (),
            signatures=signature or (),
            mentions=mention or (),
            include_failed=not no_failed,
            from_height=from_height,
            from_seq=from_seq,
            curve=curve,
        )
        seen = 0
        try:
            for msg in subscriber:
                payload = _json_value(msg.body)
                if as_json:
                    line = {
                        "seq": msg.seq,
                        "kind": msg.kind,
                        "height": msg.height,
                        "topic": msg.topic,
                        "replayed": msg.replayed,
                        "payload": payload,
                    }
                    sys.stdout.write(json.dumps(line) + "\n")
                else:
                    sys.stdout.write(f"{msg.seq:>10} {msg.kind:<12} #{msg.height:<8} {payload}\n")
                sys.stdout.flush()
                seen += 1
                if count is not None and seen >= count:
                    return
        finally:
            subscriber.close()

    try:
        guard(body)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
