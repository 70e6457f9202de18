"""Install a one-file plugin for a `monmouth` process the way pip would: a module and a
dist-info folder with its entry point, on a folder the process gets as PYTHONPATH."""

from __future__ import annotations

from pathlib import Path


def install_plugin(folder: Path, name: str, source: str) -> dict[str, str]:
    """Write module `{name}_plugin` holding `source`, registered as plugin `name`; returns the
    environment (PYTHONPATH, and `[plugins] enable`) that makes a process run it."""
    module = f"{name}_plugin"
    (folder / f"{module}.py").write_text(source)
    dist = folder / f"{module}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(f"[monmouth.plugins]\n{name} = {module}\n")
    return {"PYTHONPATH": str(folder), "MONMOUTH_PLUGINS__ENABLE": f'["{name}"]'}
