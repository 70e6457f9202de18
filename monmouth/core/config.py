"""Configuration: a TOML file, `MONMOUTH_...` environment overrides, then command-line options.

Precedence, highest first: command-line options, environment (`MONMOUTH_DEVNET__SEED=3` sets
`[devnet] seed`), the TOML file given with `--config`, defaults. `examples/monmouth.toml` shows
every key.
"""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from monmouth.core.errors import ConfigError
from monmouth.core.inbox import DEFAULT_INBOX_ADDRESS


def parse_address(text: str) -> tuple[str, int]:
    """`host:port` (IPv6 hosts in brackets, `[::1]:9464`) as a (host, port) pair.

    Raises ValueError with a message fit for a configuration error.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT (or 'none' to serve nothing)")
    host = host.removeprefix("[").removesuffix("]")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{text!r}: the port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{text!r}: the port must be 0 to 65535")
    return host, port


#: What turns an optional address or endpoint off.
OFF = ("", "none", "off")


def optional_address(value: str | None) -> str | None:
    """A `HOST:PORT` setting that may be turned off (`none`, `off` or empty: None); raises
    ValueError saying what is wrong (`parse_address`)."""
    if value is None or value.strip().lower() in OFF:
        return None
    parse_address(value.strip())
    return value.strip()


def check_endpoint(text: str) -> str:
    """A ZeroMQ endpoint the stream can bind or connect: `tcp://HOST:PORT` (port 0 to 65535),
    `ipc://PATH` or `inproc://NAME`. Raises ValueError saying what is wrong."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("tcp", "ipc", "inproc") or not rest:
        raise ValueError(f"{text!r} is not tcp://HOST:PORT, ipc://PATH or inproc://NAME")
    if scheme == "tcp":
        parse_address(rest)
    return text


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DevnetSettings(_Section):
    """The embedded L1 chain and its seeded SVM workload."""

    seed: int = 7
    #: mixed (everything below), transfers (system transfers only: the benchmark), spl
    #: (SPL Token: mints, token accounts, MintTo, and mostly token transfers), or none (empty
    #: blocks: only what the relay brings; `monmouth dev`).
    workload: Literal["mixed", "transfers", "spl", "none"] = "mixed"
    #: Solana transactions per L1 block (spread over several inbox messages).
    txs_per_block: int = Field(24, ge=0, le=100_000)
    #: Solana transactions per inbox message (batch).
    batch_size: int = Field(8, ge=1, le=64)
    #: Number of funded users that sign transactions.
    users: int = Field(16, ge=2, le=1_000_000)
    #: Share of transactions that are executed but fail (fee charged).
    failure_rate: float = Field(0.05, ge=0.0, le=1.0)
    #: Share of inbox messages that carry bad input of some kind (section 4 and 5 rejections).
    bad_input_rate: float = Field(0.05, ge=0.0, le=1.0)
    #: Probability that a new block reorgs the chain instead of extending it.
    reorg_probability: float = Field(0.0, ge=0.0, le=1.0)
    #: Deepest reorg, in blocks.
    reorg_max_depth: int = Field(3, ge=1, le=64)
    #: Seconds between L1 blocks (the L1 timestamp, not wall time).
    block_time: int = Field(12, ge=1)
    genesis_timestamp: int = 1_700_000_000
    #: Where L1 timestamps come from: "seeded" (genesis_timestamp + n * block_time, the same on
    #: every run) or "wall" (the wall clock in whole seconds, never decreasing; `monmouth dev`).
    clock: Literal["seeded", "wall"] = "seeded"
    #: Wall-clock pause between blocks when running live; 0 runs as fast as possible.
    interval: float = Field(0.0, ge=0.0)
    #: After each block, the source also reports tip - confirmed_depth as the L1 `safe` block
    #: and tip - finalized_depth as the `finalized` one (`ChainFinality`); None reports none.
    confirmed_depth: int | None = Field(None, ge=0, le=1024)
    finalized_depth: int | None = Field(None, ge=0, le=1024)
    #: Plant SVM-side MEV patterns (a token sandwich, a spam burst, a replay, a compute-unit
    #: outlier), one per block in a fixed cycle; off leaves the workload exactly as it was.
    #: The mev plugin provides the patterns (`monmouth.plugins.mev.devnet`); `monmouth.app`
    #: hands them to the devnet, which never imports a plugin. Kept here: the key is `[devnet]`'s.
    mev_patterns: bool = False

    @model_validator(mode="after")
    def _finality_outlasts_reorgs(self) -> DevnetSettings:
        if (
            self.finalized_depth is not None
            and self.reorg_probability > 0
            and self.finalized_depth <= self.reorg_max_depth
        ):
            raise ValueError(
                f"finalized_depth ({self.finalized_depth}) must be above reorg_max_depth "
                f"({self.reorg_max_depth}): a reorg must never drop a finalized block"
            )
        if (
            self.confirmed_depth is not None
            and self.finalized_depth is not None
            and self.confirmed_depth > self.finalized_depth
        ):
            raise ValueError(
                f"confirmed_depth ({self.confirmed_depth}) must not be above finalized_depth "
                f"({self.finalized_depth}): a finalized block is confirmed too"
            )
        return self


class SourceSettings(_Section):
    """Where L1 blocks come from."""

    kind: Literal["devnet", "replay", "rpc"] = "devnet"
    replay_file: Path | None = None
    #: The L1 node's JSON-RPC endpoint, for kind "rpc".
    rpc_url: str | None = None
    #: The first L1 block on an empty state (the inbox's history matters from its first block).
    start_block: int = Field(0, ge=0)
    #: Seconds between looks for a new L1 head once caught up.
    poll_interval: float = Field(1.0, gt=0, le=60)


class InboxSettings(_Section):
    """The inbox contract address that routing looks for (20 bytes, 0x-hex)."""

    address: str = "0x" + DEFAULT_INBOX_ADDRESS.hex()

    @field_validator("address")
    @classmethod
    def _is_address(cls, value: str) -> str:
        text = value.lower()
        if not text.startswith("0x") or len(text) != 42:
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        bytes.fromhex(text[2:])
        return text

    @property
    def address_bytes(self) -> bytes:
        return bytes.fromhex(self.address[2:])


class RelaySettings(_Section):
    """Posting outside transactions (the rpc plugin's sendTransaction and requestAirdrop) to the
    inbox of the L1 node that `[source] kind = "rpc"` follows (docs/rpc.md). The devnet has a
    relay of its own and reads none of this."""

    #: A file holding the relay key, a secp256k1 private key in hex (0x and 64 hex digits), whose
    #: account signs and pays for the L1 transactions. Readable by its owner only (`chmod 600`).
    #: None: no relay, and sendTransaction answers how to configure one.
    key_file: Path | None = None
    #: Seconds the relay waits after a transaction arrives for others to share its L1 transaction.
    batch_window: float = Field(0.2, ge=0, le=10)
    #: Calldata bytes of one L1 transaction (one inbox batch message) at most; mempools refuse
    #: transactions over 128 KiB.
    max_calldata: int = Field(120_000, ge=1236, le=120_000)
    #: Transactions and deposits waiting to be posted at most; beyond, sendTransaction fails.
    max_pending: int = Field(10_000, ge=1, le=1_000_000)


class StoreSettings(_Section):
    """The LMDB environment."""

    #: Initial map size; the map doubles by itself when full.
    map_size_mb: int = Field(64, ge=1)
    #: Undo records kept for this many blocks below the head: the deepest reorg handled.
    retention_blocks: int = Field(256, ge=1)
    #: fsync every commit (a crash then loses nothing reported finished).
    sync: bool = True
    #: Where group commits are written: "process", in a child process (`core.storewriter`)
    #: while the node executes the next group (a fifth to a third of its main thread's work
    #: taken off it, for about a tenth more CPU in all); "inline", in the node's main thread;
    #: "auto", "process" where this process may run on two CPUs or more, else "inline".
    writer: Literal["auto", "process", "inline"] = "auto"
    #: Keep each executed transaction's wire bytes, balances before and after, token
    #: balances, inner instructions and return data (getTransaction, getBlock).
    transaction_details: bool = True
    #: Keep the signatures-by-address index (getSignaturesForAddress); needs
    #: transaction_details.
    index_signatures: bool = True
    #: Keep the accounts-by-owner-program index (getProgramAccounts without a scan); built
    #: from every account when turned on.
    index_owners: bool = True
    #: Keep the SPL Token / Token-2022 accounts by owner, mint and delegate indexes
    #: (getTokenAccountsByOwner / ByDelegate without a scan).
    index_tokens: bool = True


class StreamSettings(_Section):
    """The event stream (`docs/stream.md`) and the instances an instance follows."""

    #: The publisher's endpoint; "none" turns publishing off. The request socket takes the
    #: next port unless `request` is set.
    publish: str | None = "tcp://127.0.0.1:7700"
    request: str | None = None
    #: Blocks whose messages are kept in LMDB for replay (0: none, replay then gives nothing).
    keep_blocks: int = Field(256, ge=0)
    #: Each transaction's account writes (`writes` messages, what `update_accounts` receives
    #: in the executor): "published" logs them with every block while the stream is published,
    #: so that an analyzer catches up by replay; "always" also without `publish` (for
    #: analyzers that replay a log published later); "subscribed" builds them only while a
    #: subscriber is subscribed under `writes/` (blocks committed meanwhile have none);
    #: "never" (docs/stream.md, "writes").
    writes: Literal["published", "always", "subscribed", "never"] = "published"
    heartbeat_interval: float = Field(1.0, gt=0, le=60)
    #: Messages queued per subscriber before ZeroMQ drops (the subscriber then replays them).
    send_hwm: int = Field(200_000, ge=1)
    #: What one client may cost (docs/stream.md, "Limits"). A subscription prefix longer than
    #: `max_subscription_bytes` disconnects its subscriber; prefixes beyond `max_subscriptions`
    #: (distinct, over all subscribers) are not tracked for filtering.
    max_subscription_bytes: int = Field(1024, ge=64)
    max_subscriptions: int = Field(100_000, ge=1)
    #: The request socket: a larger request disconnects its client; requests of one client at
    #: once; replays and snapshots sent at once (each holds an LMDB read transaction); seconds
    #: a client may leave a reply unread before its requests are dropped.
    max_request_bytes: int = Field(65536, ge=1024)
    max_requests_per_client: int = Field(8, ge=1)
    max_active_replays: int = Field(16, ge=1, le=100)
    client_timeout: float = Field(30.0, gt=0)
    #: This instance's name in heartbeats and alerts (default: HOST/DATA-DIR-NAME).
    instance: str | None = None
    #: CURVE: this server's secret key file and the folder of client public keys it accepts.
    curve_secret_key: Path | None = None
    curve_allowed_keys: Path | None = None
    #: CURVE as a client (replica, analyzer, monitor): its secret key file and the upstream
    #: publisher's public key file.
    curve_client_key: Path | None = None
    upstream_server_key: Path | None = None
    #: Allow binding a non-loopback address without CURVE.
    insecure_bind: bool = False
    #: The publishers a replica or analyzer (one) or a monitor (several) follows.
    upstream: list[str] = Field(default_factory=list)
    #: Monitor: alert when an instance is this many blocks behind the highest, or silent this
    #: many seconds.
    max_lag_blocks: int = Field(8, ge=1)
    max_silence: float = Field(5.0, gt=0)
    #: Monitor: alert when an analyzer is this many blocks behind the executor. Larger than
    #: `max_lag_blocks`: an analyzer's plugins may index slower than the executor executes
    #: while catching up, fall behind and catch up again (issue 20).
    max_analyzer_lag_blocks: int = Field(64, ge=1)

    @field_validator("publish", "request")
    @classmethod
    def _none(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in OFF:
            return None
        return check_endpoint(value)

    @field_validator("upstream")
    @classmethod
    def _endpoints(cls, values: list[str]) -> list[str]:
        return [check_endpoint(value) for value in values]

    @model_validator(mode="after")
    def _curve_pair(self) -> StreamSettings:
        if (self.curve_secret_key is None) != (self.curve_allowed_keys is None):
            raise ValueError("curve_secret_key and curve_allowed_keys go together")
        if (self.curve_client_key is None) != (self.upstream_server_key is None):
            raise ValueError("curve_client_key and upstream_server_key go together")
        return self


class PluginSettings(BaseModel):
    """Which plugins run (built-ins run unless disabled), and one table per plugin.

    `[plugins.NAME]` tables hold `on_error` (`log`, `disable` the default, or `halt`),
    `queue_size` (notifications waiting for the plugin), and the plugin's own keys, which its
    `config_model` validates.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    enable: list[str] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)
    #: Seconds the node may wait on a plugin's full queue before `/ready` says it is stalled.
    stall_timeout: float = Field(30.0, gt=0)
    #: Once the node is asked to stop (SIGTERM, Ctrl-C), the most seconds it waits for a
    #: plugin to take and finish its calls before abandoning it (logged); committed blocks stay.
    stop_timeout: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _tables(self) -> PluginSettings:
        # Checked here, so that `[plugins] rpc = 5` is a configuration error at load, not a
        # ValueError when the node starts its plugins.
        for name, value in (self.model_extra or {}).items():
            if not isinstance(value, dict):
                raise ValueError(f"{name} must be a table ([plugins.{name}])")
        return self

    def table(self, name: str) -> dict[str, Any]:
        """The `[plugins.NAME]` table, empty when absent."""
        extra = self.model_extra or {}
        table = extra.get(name, {})
        if not isinstance(table, dict):
            raise ValueError(f"[plugins] {name} must be a table")
        return table

    def tables(self) -> dict[str, dict[str, Any]]:
        return {name: self.table(name) for name in self.model_extra or {}}


class Settings(BaseSettings):
    """Everything the node reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="MONMOUTH_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    data_dir: Path = Path("monmouth-data")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: executor (follows L1 and executes), replica (applies an executor's stream), analyzer
    #: (runs plugins on a stream, no state) or monitor (watches heartbeats).
    role: Literal["executor", "replica", "analyzer", "monitor"] = "executor"
    source: SourceSettings = SourceSettings()
    devnet: DevnetSettings = DevnetSettings()
    inbox: InboxSettings = InboxSettings()
    relay: RelaySettings = RelaySettings()
    store: StoreSettings = StoreSettings()
    stream: StreamSettings = StreamSettings()
    plugins: PluginSettings = PluginSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @property
    def instance(self) -> str:
        """This instance's name in heartbeats, alerts and health: `[stream] instance`, or
        HOST/DATA-DIR-NAME (two instances on one machine differ by folder, on two machines by
        host, without configuration)."""
        return self.stream.instance or f"{socket.gethostname()}/{self.data_dir.resolve().name}"


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    text = f"{where}: {first['msg']}{more}"
    # A key is whatever the TOML file quotes (`"a\nb" = 1`): escaped, the error stays one line.
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (if any), apply environment and `overrides` (dotted keys as nested dicts).

    Raises ConfigError with a one-line message when anything is invalid.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {config_file} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from None
    try:
        # Environment beats the file, and options beat both.
        env_values = EnvSettingsSource(Settings)()
        merged = _deep_merge(_deep_merge(file_values, env_values), overrides)
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_describe(exc)}") from None
    except SettingsError as exc:
        # An environment override that is not JSON where a list or table is expected; pydantic
        # names the field but not the variable, and chains the decoder's error.
        raise ConfigError(
            f"invalid environment override: {exc} (lists and tables are given as JSON, e.g. "
            "MONMOUTH_PLUGINS__ENABLE='[\"rag\"]')"
        ) from None
