"""Configuration: TOML, environment overrides, options, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from monmouth.core.config import load_settings
from monmouth.core.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "monmouth.toml"


def test_example_file_is_the_defaults() -> None:
    assert load_settings(EXAMPLE) == load_settings(None)


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[devnet]\nseed = 5\ntxs_per_block = 3\n[store]\nsync = false\n")
    assert load_settings(config).devnet.seed == 5
    monkeypatch.setenv("MONMOUTH_DEVNET__SEED", "6")
    settings = load_settings(config)
    assert (settings.devnet.seed, settings.devnet.txs_per_block, settings.store.sync) == (
        6,
        3,
        False,
    )
    assert load_settings(config, devnet={"seed": 7}).devnet.seed == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[devnet]\nseed = 'x'\n", "devnet.seed"),
        ("[devnet]\nunknown = 1\n", "devnet.unknown"),
        ("[inbox]\naddress = '0x12'\n", "inbox.address"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(config)
    assert "\n" not in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(Path("/nonexistent/monmouth.toml"))
