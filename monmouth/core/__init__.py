"""The minimal core: notifications, sources, inbox codec, node, LMDB state, lattice hash."""
