"""Solana JSON-RPC, a built-in plugin (on unless `[plugins] disable = ["rpc"]`).

Serves Solana's JSON-RPC over HTTP at `[plugins.rpc] address` (default 127.0.0.1:8899, Solana's
port; "none" serves nothing), answering as an Agave RPC node does so that solana-py,
@solana/web3.js and the Solana CLI work unmodified (docs/rpc.md).

- The server runs in a child process (`server.py`) that opens the node's LMDB environment
  read-only and answers every read itself, each request from one read transaction (one
  consistent snapshot): read traffic never holds the node's interpreter lock.
- Commitment on the Ethereum clock (`snapshot.py`): processed = the executed head,
  confirmed = the L1 safe block, finalized = the L1 finalized block; older states come from
  the undo records.
- sendTransaction and requestAirdrop are checked in the child, then handed over the pipe to
  this plugin, which gives them to the node's relay (`Host.relay`); a node without one answers
  with an error that says how to get one.

- PubSub over WebSocket on `[plugins.rpc] pubsub_address` (default the HTTP port + 1, 8900)
  from the same child (`pubsub.py`, `pubsub_server.py`): the plugin's per-block hooks
  (`notify_block`, `revert_blocks`, `update_slot_status`) only queue a block's number and hash
  for the child, which reads what changed from LMDB itself.

The node's hot path pays next to nothing: those hooks run in the plugin's worker and never
wait on the child.
"""

from monmouth.plugins.rpc.plugin import Plugin

__all__ = ["Plugin"]
