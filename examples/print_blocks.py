"""A minimal third-party monmouth plugin: print one line per committed L1 block.

A plugin is any importable module (or class) with functions marked ``@hookimpl`` whose names
and arguments match the hooks of ``monmouth.hooks``; it implements only the hooks it needs.
``notify_block`` is called after each block is durably committed, in block order.

To run it, ship the module in a package that declares an entry point in the ``monmouth.plugins``
group, in that package's ``pyproject.toml``::

    [project.entry-points."monmouth.plugins"]
    print-blocks = "print_blocks"

install that package into the node's environment (``pip install -e .``), and enable the plugin
by its entry-point name in the config file given to ``monmouth run --config``::

    [plugins]
    enable = ["print-blocks"]

(or ``MONMOUTH_PLUGINS__ENABLE='["print-blocks"]'`` in the environment). Installed entry-point
plugins run only when enabled; a name in ``enable`` that no installed entry point has stops the
node at start-up with exit code 2, and so does ``MONMOUTH_DISABLE_PLUGIN_AUTOLOAD=1``, which
turns entry-point loading off. If the entry point names a class, or a module with a class
called ``Plugin``, the node registers ``Plugin(settings)`` instead of the module itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monmouth.hooks import hookimpl

if TYPE_CHECKING:
    from monmouth.hooks import BlockInfo


@hookimpl
def notify_block(block: BlockInfo) -> None:
    """Print the block's number and hash, its inbox counts and the state hash after it."""
    print(
        f"block {block.number} 0x{block.hash.hex()}: "
        f"{block.messages} messages, {block.deposits} deposits, "
        f"{block.ok} ok, {block.failed} failed, {block.rejected} rejected; "
        f"state {block.state_hash}",
        flush=True,
    )
