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

The node's hot path pays nothing: the plugin implements no per-block hook.
"""

from monmouth.plugins.rpc.plugin import Plugin

__all__ = ["Plugin"]
