"""What our marimo notebooks need in every runtime they run in: marimo (`marimo edit`), script mode
(`python training/sft.py --debug`) and the exported ipynb in Jupyter or Colab (no marimo runtime there).

Notebooks read their arguments with `cli_args()` rather than `mo.cli_args()`: the latter raises outside a
marimo runtime. There `cli_args()` reads the `NOTEBOOK_ARGS` parameters cell that the export puts at the top
(`use_notebook_args`), else the ABTUNE_NOTEBOOK_ARGS environment variable (e.g. "--debug --family qwen2.5").
A notebook that runs a config turns its arguments into overrides with `config_overrides` (`--train.max_steps 2`
-> `train.max_steps=2`) and its widgets with `changed_overrides`, so only what the user gave or changed
overrides the YAML; `shows_html()` tells a notebook frontend from script mode (plain progress there).
`stop()` is `mo.stop` that also works in Jupyter (there it shows the message and the later cells must cope),
and `output_on_drive()` puts a training run's output_dir on Google Drive when the notebook runs in Colab, so
a disconnect does not lose the checkpoints and running the notebook again resumes from them.

Exporting to Colab lives in `agentbench_tuning.notebook_export` (`scripts/export_to_ipynb.sh`).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from pathlib import Path
from typing import Any

ARGS_VAR = "ABTUNE_NOTEBOOK_ARGS"
# Where Colab mounts Google Drive; a training run's output_dir goes under MyDrive/DRIVE_FOLDER there.
DRIVE_MOUNT = Path("/content/drive")
DRIVE_FOLDER = "abtune"
# Set by the exported notebook's parameters cell (`use_notebook_args`); None until it runs.
_notebook_args: str | None = None


def parse_args(text: str) -> dict[str, str | int | float]:
    """`--key value` and bare `--flag` pairs, like marimo's script-mode parsing ("--debug" -> {"debug": ""})."""
    args: dict[str, str | int | float] = {}
    tokens = shlex.split(text)
    i = 0
    while i < len(tokens):
        if not tokens[i].startswith("-"):
            raise ValueError(f"notebook arguments {text!r}: expected --key, got {tokens[i]!r}")
        key = tokens[i].lstrip("-")
        if "=" in key:  # --key=value
            key, value = key.split("=", 1)
            args[key] = _number_or_text(value)
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            args[key] = _number_or_text(tokens[i + 1])
            i += 2
        else:
            args[key] = ""
            i += 1
    return args


def _number_or_text(value: str) -> str | int | float:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def use_notebook_args(text: str) -> None:
    """The exported notebook's parameters cell hands its `NOTEBOOK_ARGS` here; empty leaves the environment's
    ABTUNE_NOTEBOOK_ARGS (or nothing) in force."""
    global _notebook_args
    parse_args(text)  # a typo fails here, in the cell the user just edited
    _notebook_args = text


def cli_args() -> dict:
    """The notebook's arguments: `mo.cli_args()` under marimo (`python nb.py --debug`, `marimo edit nb.py --
    --debug`), else (an exported ipynb on Colab/Jupyter) the parameters cell's NOTEBOOK_ARGS, else the
    parsed ABTUNE_NOTEBOOK_ARGS variable."""
    import marimo as mo

    if mo.app_meta().mode in ("script", "edit", "run"):
        return dict(mo.cli_args())
    return parse_args(_notebook_args or os.environ.get(ARGS_VAR, ""))


def stop(condition: bool, message: str) -> bool:
    """`mo.stop(condition, message)` under marimo (the cells below wait). Elsewhere (Jupyter, Colab, where
    mo.stop would raise and end "Run all") print `message` when `condition` holds and return `condition`,
    so the cell can fall back to an empty result that the later cells show as nothing."""
    import marimo as mo

    if mo.running_in_notebook():
        mo.stop(condition, mo.md(message))
    elif condition:
        print(message)
    return condition


def config_overrides(args: dict, own: tuple[str, ...] = ("config", "debug"),
                     shorthands: dict[str, str] | None = None) -> list[str]:
    """The config overrides a notebook's arguments give: `--train.max_steps 2` -> "train.max_steps=2" for any
    `section.key`, and `shorthands` such as {"max_steps": "train.max_steps"}. The notebook's `own` arguments
    are skipped; anything else is an error naming it. Arguments not given override nothing."""
    shorthands = shorthands or {}
    overrides = []
    for key, value in args.items():
        if key in own:
            continue
        target = shorthands.get(key, key)
        if "." not in target:
            raise ValueError(
                f"notebook argument --{key}: not a config key; pass --section.key value "
                f"(e.g. --train.max_steps 2), or one of --{', --'.join([*own, *shorthands])}"
            )
        if isinstance(value, list):
            raise ValueError(f"notebook argument --{key} given {len(value)} times: {value!r}; give it once")
        overrides.append(f"{target}={str(value).lower() if isinstance(value, bool) else value}")
    return overrides


def changed_overrides(cfg: Any, values: dict[str, Any]) -> list[str]:
    """`section.key=value` for each widget value that differs from `cfg`'s: a widget still at the value it
    started from (the config's own) overrides nothing."""
    overrides = []
    for key, value in values.items():
        section, field = key.split(".")
        if getattr(getattr(cfg, section), field) != value:
            overrides.append(f"{key}={value}")
    return overrides


def shows_html() -> bool:
    """Whether rich output renders here: a marimo notebook open in the browser, or an IPython kernel (Jupyter,
    Colab). False in script mode (`python nb.py`), where transformers would still pick its notebook progress
    bar (it takes any process that imported marimo for a notebook) and print `<IPython...HTML object>`."""
    import marimo as mo

    if mo.running_in_notebook():
        return True
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and "IPKernelApp" in shell.config


def in_colab() -> bool:
    """Whether this kernel is a Colab one (its `google.colab` package is importable)."""
    if "google.colab" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except ModuleNotFoundError:  # no `google` namespace package at all
        return False


def output_on_drive(output_dir: str, args: dict) -> str:
    """In Colab (unless the arguments say `--no-drive`): mount Google Drive if it is not mounted yet and return
    `output_dir` under /content/drive/MyDrive/abtune/, so checkpoints outlive the VM and running the notebook
    again after a disconnect resumes from the last one. Anywhere else, or for an absolute `output_dir`
    (already where the user wants it), return `output_dir` unchanged."""
    if "no-drive" in args or not in_colab() or Path(output_dir).is_absolute():
        return output_dir
    my_drive = DRIVE_MOUNT / "MyDrive"
    if not my_drive.is_dir():
        from google.colab import drive

        drive.mount(str(DRIVE_MOUNT))  # Colab asks the user to allow access
    return str(my_drive / DRIVE_FOLDER / output_dir)
