"""Our marimo notebooks: their command-line arguments in every runtime, finding them, and exporting them to
Colab-ready Jupyter notebooks whose first cell installs the toolkit (`scripts/export_to_ipynb.sh`).

Notebooks read their arguments with `cli_args()` rather than `mo.cli_args()`: the latter raises outside a
marimo runtime, i.e. in the exported ipynb on Colab or Jupyter. There `cli_args()` parses the
ABTUNE_NOTEBOOK_ARGS environment variable instead (e.g. "--debug --family qwen2.5"), empty by default.
A notebook that runs a config turns its arguments into overrides with `config_overrides` (`--train.max_steps 2`
-> `train.max_steps=2`) and its widgets with `changed_overrides`, so only what the user gave or changed
overrides the YAML; `shows_html()` tells a notebook frontend from script mode (plain progress there).

    python -m agentbench_tuning.notebooks list                      # the marimo notebooks in the repo
    python -m agentbench_tuning.notebooks requirement --repo https://github.com/ORG/REPO --ref v0.1
    python -m agentbench_tuning.notebooks add-install-cell out.ipynb --requirement "agentbench-tuning @ git+…"

The install cell is `%pip install -q "agentbench-tuning[vllm,qlora,track] @ git+<repo>[@<ref>]"`. The repo
URL comes from `--repo`, else the ABTUNE_REPO_URL environment variable, else this checkout's `origin`
remote (SSH remotes are rewritten to https, since Colab has no SSH key); with none of them it is an error,
not a placeholder that would only fail later on Colab.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

NOTEBOOK_DIRS = ("training", "dataset", "eval")
DEFAULT_EXTRAS = "vllm,qlora,track"
# Marks the cell we insert, so exporting again replaces it instead of stacking a second one.
INSTALL_TAG = "abtune-install"


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


def cli_args() -> dict:
    """The notebook's arguments: `mo.cli_args()` under marimo (`python nb.py --debug`, `marimo edit nb.py --
    --debug`), else (an exported ipynb on Colab/Jupyter) the parsed ABTUNE_NOTEBOOK_ARGS variable."""
    import marimo as mo

    if mo.app_meta().mode in ("script", "edit", "run"):
        return dict(mo.cli_args())
    return parse_args(os.environ.get("ABTUNE_NOTEBOOK_ARGS", ""))


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


def find_notebooks(root: str | os.PathLike = ".") -> list[Path]:
    """Every marimo notebook (a .py file that creates `marimo.App(`) directly in training/, dataset/, eval/."""
    found = []
    for directory in NOTEBOOK_DIRS:
        for path in sorted((Path(root) / directory).glob("*.py")):
            if "marimo.App(" in path.read_text(encoding="utf-8"):
                found.append(path)
    return found


def https_git_url(url: str) -> str:
    """`git@host:org/repo(.git)` -> `https://host/org/repo.git`; https URLs pass through."""
    url = url.strip()
    ssh = re.fullmatch(r"(?:ssh://)?git@([^:/]+)[:/](.+?)(?:\.git)?/?", url)
    if ssh:
        return f"https://{ssh.group(1)}/{ssh.group(2)}.git"
    if url.startswith("https://"):
        return url
    raise ValueError(
        f"repo URL {url!r} is neither https:// nor git@host:org/repo; pass an https URL with --repo"
    )


def resolve_repo_url(repo: str | None, cwd: str | os.PathLike = ".") -> str:
    """--repo, else $ABTUNE_REPO_URL, else `git remote get-url origin` in `cwd`."""
    url = repo or os.environ.get("ABTUNE_REPO_URL")
    if not url:
        result = subprocess.run(
            ["git", "remote", "get-url", "origin"], cwd=cwd, capture_output=True, text=True, check=False
        )
        url = result.stdout.strip() if result.returncode == 0 else ""
    if not url:
        raise ValueError(
            "no repository URL for the install cell: pass --repo URL or set ABTUNE_REPO_URL "
            "(this checkout has no 'origin' remote)"
        )
    return https_git_url(url)


def install_requirement(repo_url: str, ref: str | None = None, extras: str = DEFAULT_EXTRAS) -> str:
    """The pip requirement that installs this toolkit from git, e.g. `agentbench-tuning[vllm] @ git+https://…@v1`."""
    extras_part = f"[{extras}]" if extras else ""
    return f"agentbench-tuning{extras_part} @ git+{repo_url}{'@' + ref if ref else ''}"


def install_cell_source(requirement: str) -> str:
    return f'# Install AgentBench Tuning (Colab / Jupyter). Restart the runtime if it asks.\n%pip install -q "{requirement}"'


def add_install_cell(ipynb_path: str | os.PathLike, requirement: str) -> None:
    """Make the install cell the notebook's first cell (replacing an earlier one), validate, write atomically."""
    import nbformat

    path = Path(ipynb_path)
    notebook = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_code_cell(install_cell_source(requirement), metadata={"tags": [INSTALL_TAG]})
    cells = notebook.cells
    if cells and INSTALL_TAG in cells[0].get("metadata", {}).get("tags", []):
        cells[0] = cell
    else:
        cells.insert(0, cell)
    nbformat.validate(notebook)
    tmp = path.with_name(path.name + ".tmp")
    nbformat.write(notebook, tmp)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agentbench_tuning.notebooks", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="print the marimo notebooks under ROOT")
    listing.add_argument("root", nargs="?", default=".")
    requirement = commands.add_parser("requirement", help="print the pip requirement the install cell uses")
    requirement.add_argument(
        "--repo", help="git URL of the toolkit (default: $ABTUNE_REPO_URL, else the origin remote)"
    )
    requirement.add_argument("--ref", help="branch, tag or commit to install (default: the default branch)")
    requirement.add_argument(
        "--extras", default=DEFAULT_EXTRAS, help=f"extras to install (default: {DEFAULT_EXTRAS})"
    )
    install = commands.add_parser("add-install-cell", help="insert the install cell into exported notebooks")
    install.add_argument("notebooks", nargs="+", type=Path)
    install.add_argument(
        "--requirement", required=True, help="what to pip install (see the requirement command)"
    )
    args = parser.parse_args(argv)
    if args.command == "list":
        for path in find_notebooks(args.root):
            print(path)
    elif args.command == "requirement":
        try:
            print(install_requirement(resolve_repo_url(args.repo), args.ref, args.extras))
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    else:
        for notebook in args.notebooks:
            add_install_cell(notebook, args.requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
