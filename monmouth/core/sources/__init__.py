"""Sources of L1 notifications: `replay` (a recorded file), `rpc` (an Ethereum node), and what
every source provides (`base`). The embedded `devnet` lives in `monmouth.devnet`; `monmouth.app`
builds the configured one."""
