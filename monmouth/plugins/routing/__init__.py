"""Inbox routing, the first built-in plugin: an L1 transaction is an inbox message when it was
sent to the inbox address and its receipt says it succeeded (docs/protocol.md section 1).

On unless `[plugins] disable = ["routing"]`, which leaves routing to another plugin (the node
executes nothing without one). It has no table of its own: the address is the node's
`[inbox] address`. Its one hook runs inline, on the execution path, and decides state.
"""

from monmouth.plugins.routing.plugin import Plugin

__all__ = ["Plugin"]
