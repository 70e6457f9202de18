"""Instance roles besides the executor (`docs/stream.md`): replica, analyzer, monitor."""
