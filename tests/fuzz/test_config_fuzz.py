"""Fuzzing the config loader (`core.config.load_settings`): random TOML tables, random
`MONMOUTH_...` environment overrides and random option overrides give `Settings` or a one-line
ConfigError, nothing else, and a `Settings` it returns is whole (every `[plugins.NAME]` a
table, so starting the plugins cannot fail on its shape)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from monmouth.core.config import Settings, load_settings
from monmouth.core.errors import ConfigError

#: Known sections and keys (so the fuzzer reaches the validators), and some unknown ones.
SECTIONS: dict[str, list[str]] = {
    name: sorted(field.annotation.model_fields)
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
}
SECTIONS["nope"] = ["x"]
TOP_KEYS = ["data_dir", "log_level", "role", "bogus"]
PLUGINS = ["routing", "monitoring", "rpc", "mev", "rag", "nope"]

scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=16),
    st.sampled_from(["none", "tcp://127.0.0.1:99999", "tcp://:1", "ipc://", "0x" + "a" * 40]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string (or a TOML error)
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


@st.composite
def toml_files(draw: st.DrawFn) -> str:
    lines = [
        f"{key} = {_toml_value(draw(values))}" for key in draw(st.sets(st.sampled_from(TOP_KEYS)))
    ]
    for section in draw(st.sets(st.sampled_from(sorted(SECTIONS)), max_size=3)):
        lines.append(f"[{section}]")
        for key in draw(st.sets(st.sampled_from(SECTIONS[section]), max_size=4)):
            lines.append(f"{key} = {_toml_value(draw(values))}")
    if draw(st.booleans()):
        lines.append("[plugins]")
        for name in draw(st.sets(st.sampled_from(PLUGINS), max_size=2)):
            table = draw(
                st.dictionaries(
                    st.sampled_from(["on_error", "queue_size", "address", "x"]), values, max_size=2
                )
            )
            lines.append(f"{name} = {_toml_value(draw(st.just(table) | values))}")
    return "\n".join(lines) + "\n"


env_names = st.one_of(
    st.sampled_from(
        [
            f"MONMOUTH_{section.upper()}__{key.upper()}"
            for section, keys in SECTIONS.items()
            for key in keys
        ]
        + [f"MONMOUTH_{key.upper()}" for key in TOP_KEYS]
        + [f"MONMOUTH_PLUGINS__{name.upper()}" for name in PLUGINS]
        + [f"MONMOUTH_PLUGINS__{name.upper()}__ON_ERROR" for name in PLUGINS]
        + ["MONMOUTH_STREAM", "MONMOUTH_DEVNET__SEED__X", "MONMOUTH___"]
    ),
)
env_values = st.one_of(
    st.text(max_size=16).filter(lambda t: "\x00" not in t),
    st.sampled_from(["[not json", "{}", "[]", '["rag"]', '{"a": 1}', "null", "1e999", "-1"]),
)


@given(
    st.one_of(toml_files(), st.text(max_size=200)),
    st.dictionaries(env_names, env_values, max_size=3),
    st.dictionaries(
        st.sampled_from(sorted(SECTIONS)),
        st.dictionaries(st.text(max_size=8), values, max_size=2),
        max_size=2,
    ),
)
# Found with this test: `[plugins] foo = 5` loaded, then starting the plugins raised ValueError.
@example("[plugins]\nfoo = 5\n", {}, {})
@example("", {"MONMOUTH_PLUGINS__ENABLE": "[not json"}, {})
# Found by this test (long profile): a key with a newline made a two-line error.
@example('[devnet]\n"a\\nb" = 1\n', {}, {})
@example("", {}, {"devnet": {"\n": False}})
@example("", {"MONMOUTH_STREAM__PUBLISH": "tcp://127.0.0.1:99999"}, {})
def test_load_settings_gives_settings_or_config_error(
    text: str, env: dict[str, str], overrides: dict[str, Any]
) -> None:
    with tempfile.TemporaryDirectory() as folder, mock.patch.dict(os.environ, env):
        path = Path(folder) / "monmouth.toml"
        path.write_text(text)
        try:
            settings = load_settings(path, **overrides)
        except ConfigError as exc:
            assert "\n" not in str(exc)
            return
    assert isinstance(settings, Settings)
    for table in settings.plugins.tables().values():
        assert isinstance(table, dict)
