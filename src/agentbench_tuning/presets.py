"""The shipped run presets (`configs/*.yaml`), found the same way in a checkout and in an installed package.

`configs/` sits at the repository root, where `abtune sft --config configs/debug.yaml` reads it; the package
reaches it through `src/agentbench_tuning/configs`, a symlink to `../../configs` that setuptools follows
when it builds a wheel, so `pip install "agentbench-tuning @ git+…"` (Colab) ships every preset as package
data. A notebook started anywhere (Colab starts in /content) can then still open `configs/debug.yaml`:

    from agentbench_tuning.presets import list_presets, resolve_config
    resolve_config("configs/debug.yaml")   # ./configs/debug.yaml if it exists, else the packaged copy
    resolve_config("qwen3-4b_l4.yaml")     # a preset by name
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

PRESET_DIR = "configs"


def presets_dir() -> Path:
    """The packaged presets folder (in a checkout: the repository's configs/, through the symlink)."""
    return Path(str(files("agentbench_tuning") / PRESET_DIR))


def list_presets() -> list[str]:
    """The shipped run presets as `configs/NAME.yaml` (sorted), the spelling the README and CLI use."""
    return sorted(f"{PRESET_DIR}/{path.name}" for path in presets_dir().glob("*.yaml"))


def resolve_config(path: str | os.PathLike) -> Path:
    """`path` if that file exists (relative to the working directory), else the shipped preset of the same
    name (`configs/debug.yaml` or `debug.yaml`). A missing file that is no preset either is an error that
    lists the presets."""
    given = Path(path)
    if given.is_file():
        return given
    if given.parent in (Path("."), Path(PRESET_DIR)):
        packaged = presets_dir() / given.name
        if packaged.is_file():
            return packaged
    raise FileNotFoundError(
        f"run config {str(path)!r}: no such file in {Path.cwd()} and no shipped preset of that name; "
        f"pass the path to your YAML or one of: {', '.join(list_presets())}"
    )
