"""The public plugin API: everything a plugin author imports, from one place.

A plugin implements any subset of the hooks, as plain functions or coroutines::

    from monmouth.hooks import hookimpl

    @hookimpl
    def notify_block(block):
        print(block.number, block.state_hash)

What is here, and nothing a plugin needs is elsewhere:

- `hookimpl`, the marker; the hook specifications themselves (`startup`, `notify_block`, ...),
  documented one by one in `monmouth.core.hookspecs` and docs/plugins.md;
- `Host`, what the lifecycle hooks' `node` argument offers (executor, replica and analyzer all
  satisfy it), and `Plugin`, the optional class attributes the node reads;
- the payload types the hooks receive: `BlockInfo`, `AccountUpdate`, `TransactionInfo`,
  `L1Block`, `L1Transaction`, `L1Log`, `BlockId`, `PAYLOAD_VERSION`;
- `AccountCacheSpec` and `EvictionPolicy`, what `account_cache` returns;
- `Topic`, what `register_stream_topics`' callback returns; `InboxRelay` and `RelayError`, what
  `host.relay` offers a plugin that takes transactions from outside;
- `Settings`, the node's configuration, and `ConfigError`, the error to raise for a setting
  that cannot work (the CLI prints it as one line);
- `inbox`, the inbox protocol's codec and constants (version, kinds, sizes), for routers.

Names here are stable: a plugin written against them keeps working across minor versions.
"""

from __future__ import annotations

from monmouth.core import inbox
from monmouth.core.cachespec import AccountCacheSpec, EvictionPolicy
from monmouth.core.config import Settings
from monmouth.core.errors import ConfigError
from monmouth.core.eventlog import SlotStatus, Topic
from monmouth.core.hookspecs import (
    PROJECT,
    account_cache,
    end_of_startup,
    hookimpl,
    hookspec,
    notify_block,
    notify_l1_block,
    notify_transactions,
    register_commands,
    register_rpc_methods,
    register_stream_topics,
    revert_blocks,
    route_transaction,
    shutdown,
    startup,
    update_accounts,
    update_slot_status,
)
from monmouth.core.host import Host, Plugin
from monmouth.core.l1 import BlockId, L1Block, L1Log, L1Transaction
from monmouth.core.payloads import PAYLOAD_VERSION, AccountUpdate, BlockInfo, TransactionInfo
from monmouth.core.relay import InboxRelay, RelayError

__all__ = [
    "PAYLOAD_VERSION",
    "PROJECT",
    "AccountCacheSpec",
    "AccountUpdate",
    "BlockId",
    "BlockInfo",
    "ConfigError",
    "EvictionPolicy",
    "Host",
    "InboxRelay",
    "L1Block",
    "L1Log",
    "L1Transaction",
    "Plugin",
    "RelayError",
    "Settings",
    "SlotStatus",
    "Topic",
    "TransactionInfo",
    "account_cache",
    "end_of_startup",
    "hookimpl",
    "hookspec",
    "inbox",
    "notify_block",
    "notify_l1_block",
    "notify_transactions",
    "register_commands",
    "register_rpc_methods",
    "register_stream_topics",
    "revert_blocks",
    "route_transaction",
    "shutdown",
    "startup",
    "update_accounts",
    "update_slot_status",
]
