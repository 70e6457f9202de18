"""Sources of L1 notifications: `devnet` (embedded), `replay` (a recorded file)."""
