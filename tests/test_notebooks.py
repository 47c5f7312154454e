"""Every marimo notebook in training/, dataset/ and eval/ runs headless in debug mode and exports to a valid
Colab ipynb whose first cell installs the toolkit; the exported ipynb's cells also run in debug mode in
plain Python, as a Jupyter/Colab kernel would run them (no marimo runtime there). Notebooks are found by
glob (`find_notebooks`), so a new notebook is covered as soon as it exists.

    pytest tests/test_notebooks.py            # add -m "not slow" to skip the headless runs
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentbench_tuning.notebooks import (
    INSTALL_TAG,
    find_notebooks,
    install_cell_source,
    install_requirement,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT)
IDS = [str(nb.relative_to(ROOT)) for nb in NOTEBOOKS]
REPO = "https://example.invalid/agentbench-tuning.git"
RUN_TIMEOUT_S = 300


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def test_notebooks_are_found():
    # The dataset notebook ships with this module; finding none means the glob broke, not "nothing to test".
    assert ROOT / "dataset" / "inspect_data.py" in NOTEBOOKS


# Each run starts a fresh interpreter that imports torch/transformers and may train for up to a minute.
@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_notebook_runs_headless_in_debug_mode(notebook):
    result = subprocess.run(
        [sys.executable, str(notebook), "--debug"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 0, f"{notebook.name} exited {result.returncode}:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ipynb")
    result = subprocess.run(
        [
            "bash",
            str(ROOT / "scripts" / "export_to_ipynb.sh"),
            "--out",
            str(out),
            "--repo",
            REPO,
            "--ref",
            "main",
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_exported_ipynb_is_valid_and_starts_with_the_install_cell(exported, notebook):
    import nbformat

    path = exported / notebook.relative_to(ROOT).with_suffix(".ipynb")
    ipynb = nbformat.read(path, as_version=4)
    nbformat.validate(ipynb)
    first = ipynb.cells[0]
    assert first.cell_type == "code"
    assert first.source == install_cell_source(install_requirement(REPO, "main"))
    assert first.source.endswith(
        '%pip install -q "agentbench-tuning[vllm,qlora,track] @ '
        'git+https://example.invalid/agentbench-tuning.git@main"'
    )
    assert first.metadata["tags"] == [INSTALL_TAG]
    # The notebook's own cells follow, none of them a second install cell.
    assert len(ipynb.cells) >= 2
    assert all(INSTALL_TAG not in cell.metadata.get("tags", []) for cell in ipynb.cells[1:])


# Runs the exported notebook's code cells (after the install cell) top to bottom in one namespace, the way a
# Jupyter kernel would, with no marimo runtime: this is where `mo.cli_args()` and friends break on Colab.
_EXEC_CELLS = """
import sys, nbformat
cells = nbformat.read(sys.argv[1], as_version=4).cells[1:]
namespace = {"__name__": "__main__"}
for number, cell in enumerate(cells, start=2):
    if cell.cell_type == "code":
        exec(compile(cell.source, f"{sys.argv[1]} cell {number}", "exec"), namespace)
"""


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_exported_ipynb_runs_outside_marimo(exported, notebook):
    path = exported / notebook.relative_to(ROOT).with_suffix(".ipynb")
    env = {**_env(), "ABTUNE_NOTEBOOK_ARGS": "--debug"}
    result = subprocess.run(
        [sys.executable, "-c", _EXEC_CELLS, str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 0, f"{path.name} failed outside marimo:\n{result.stderr[-3000:]}"
