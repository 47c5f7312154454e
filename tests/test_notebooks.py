"""Every marimo notebook in training/, dataset/ and eval/ runs headless in debug mode, and exports to a Colab
notebook that Jupyter executes top to bottom (`jupyter nbconvert --execute`, as Colab runs it) from a folder
outside the repository, with no arguments and with debug parameters set in its parameters cell. Notebooks are
found by glob (`find_notebooks`), so a new notebook is covered as soon as it exists.

    pytest tests/test_notebooks.py            # add -m "not slow" to skip the headless runs and executions
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentbench_tuning.notebook_export import (
    COLAB_TAG,
    INSTALL_TAG,
    PARAMETERS_TAG,
    find_notebooks,
    install_cell_source,
    notebook_requirements,
    script_metadata,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT)
IDS = [str(nb.relative_to(ROOT)) for nb in NOTEBOOKS]
REPO = "https://example.invalid/agentbench-tuning.git"
RUN_TIMEOUT_S = 600
# sft with no arguments trains configs/debug.yaml in full (about 2 minutes on 2 idle cores); a loaded CI box
# takes several times that.
EXECUTE_TIMEOUT_S = 1500


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("MPLBACKEND", "Agg")
    env.pop("ABTUNE_NOTEBOOK_ARGS", None)
    return env


def test_notebooks_are_found():
    # These ship with this module; finding none means the glob broke, not "nothing to test".
    assert {ROOT / "dataset" / "inspect_data.py", ROOT / "training" / "sft.py", ROOT / "eval" / "report.py"} <= set(
        NOTEBOOKS
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_pep723_block_installs_this_checkout(notebook):
    # `uv run NB.py` and `marimo edit --sandbox NB.py` build the notebook's environment from this block; the
    # toolkit is on no index, so the block must point at the checkout (tests/test_notebooks_uv.py resolves it).
    meta = script_metadata(notebook)
    assert meta["requires-python"] == ">=3.11"
    assert any(dep.startswith("agentbench-tuning") for dep in meta["dependencies"])
    assert meta["tool"]["uv"]["sources"]["agentbench-tuning"] == {"path": "..", "editable": True}


@pytest.mark.parametrize("notebook", [nb for nb in NOTEBOOKS if nb.parent.name == "training"],
                         ids=[i for i in IDS if i.startswith("training")])  # fmt: skip
def test_training_notebooks_keep_their_run_on_drive_in_colab(notebook):
    # A Colab disconnect loses the VM's disk; every training notebook puts output_dir on Drive there.
    assert "output_on_drive(" in notebook.read_text(encoding="utf-8")


# Each run starts a fresh interpreter that imports torch/transformers and may train for up to a minute.
@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_notebook_runs_headless_in_debug_mode(notebook):
    result = subprocess.run([sys.executable, str(notebook), "--debug"], cwd=ROOT, env=_env(), capture_output=True,
                            text=True, timeout=RUN_TIMEOUT_S)  # fmt: skip
    assert result.returncode == 0, f"{notebook.name} exited {result.returncode}:\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ipynb")
    command = ["bash", str(ROOT / "scripts" / "export_to_ipynb.sh"), "--out", str(out), "--repo", REPO, "--ref", "main"]
    result = subprocess.run(command, cwd=ROOT, env={**_env(), "PYTHON": sys.executable}, capture_output=True,
                            text=True, timeout=RUN_TIMEOUT_S)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _cells(exported: Path, notebook: Path):
    import nbformat

    ipynb = nbformat.read(exported / notebook.relative_to(ROOT).with_suffix(".ipynb"), as_version=4)
    nbformat.validate(ipynb)
    return ipynb.cells


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_exported_ipynb_starts_with_install_and_parameters_cells(exported, notebook):
    cells = _cells(exported, notebook)
    install, intro, parameters, handover = cells[:4]
    assert install.metadata["tags"] == [COLAB_TAG, INSTALL_TAG]
    assert install.source == install_cell_source(notebook_requirements(notebook, REPO, "main", ROOT))
    assert f"git+{REPO}@main" in install.source
    assert intro.cell_type == "markdown" and notebook.relative_to(ROOT).as_posix() in intro.source
    assert parameters.metadata["tags"] == [COLAB_TAG, PARAMETERS_TAG]
    assert parameters.source.endswith('NOTEBOOK_ARGS = ""')
    assert handover.source.endswith("use_notebook_args(NOTEBOOK_ARGS)")
    # The notebook's own cells follow, none of them ours.
    assert len(cells) > 4
    assert all(COLAB_TAG not in cell.metadata.get("tags", []) for cell in cells[4:])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_exported_marimo_notebook_takes_the_toolkit_from_git(exported, notebook):
    standalone = exported / notebook.relative_to(ROOT)
    sources = script_metadata(standalone)["tool"]["uv"]["sources"]
    assert sources == {"agentbench-tuning": {"git": REPO, "rev": "main"}}


# What a user sees with no arguments (besides no error) and with debug-style ones, per notebook.
NO_ARGS_SAYS = {"eval/report.py": "Enter one or more run directories"}
DEBUG_ARGS = {"dataset/alfworld_gen.py": "--games 6 --seed 1 --format steps", "dataset/dbbench_gen.py": "--n 12"}


def execute_in_jupyter(exported: Path, notebook: Path, args: str, folder: Path) -> str:
    """Run the exported notebook with `jupyter nbconvert --execute` in `folder`, its parameters cell set to
    `args` (what a user, or `papermill -p NOTEBOOK_ARGS ...`, does); return its text and HTML outputs."""
    import nbformat

    name = notebook.relative_to(ROOT).as_posix()
    ipynb = nbformat.read(exported / notebook.relative_to(ROOT).with_suffix(".ipynb"), as_version=4)
    parameters = next(c for c in ipynb.cells if PARAMETERS_TAG in c.metadata.get("tags", []))
    parameters.source = parameters.source.replace('NOTEBOOK_ARGS = ""', f"NOTEBOOK_ARGS = {args!r}")
    path = folder / notebook.with_suffix(".ipynb").name
    nbformat.write(ipynb, path)
    env = {**_env(), "ABTUNE_SKIP_INSTALL": "1"}  # the toolkit is this checkout (PYTHONPATH), not git
    command = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb",
               f"--ExecutePreprocessor.timeout={EXECUTE_TIMEOUT_S}", path.name]  # fmt: skip
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                            timeout=EXECUTE_TIMEOUT_S + 60)  # fmt: skip
    assert result.returncode == 0, f"{name} ({args or 'no arguments'}) failed in Jupyter:\n{result.stderr[-4000:]}"
    outputs = [o for c in nbformat.read(folder / "executed.ipynb", 4).cells if c.cell_type == "code" for o in c.outputs]
    return "".join(o.get("text", "") + o.get("data", {}).get("text/html", "") for o in outputs)


@pytest.mark.slow
@pytest.mark.timeout(EXECUTE_TIMEOUT_S + 120)
@pytest.mark.parametrize("mode", ["no-args", "debug"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=IDS)
def test_exported_ipynb_executes_in_jupyter_outside_the_repo(exported, notebook, mode, tmp_path):
    name = notebook.relative_to(ROOT).as_posix()
    args = "" if mode == "no-args" else DEBUG_ARGS.get(name, "--debug")
    outputs = execute_in_jupyter(exported, notebook, args, tmp_path)  # its own folder, as Colab: no configs/ here
    if mode == "no-args" and name in NO_ARGS_SAYS:
        assert NO_ARGS_SAYS[name] in outputs
    assert not (tmp_path / "configs").exists()
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)


@pytest.mark.slow
def test_report_notebook_compares_an_expert_run_with_a_model_run(exported, tmp_path, tiny_model_dirs):
    from agentbench_tuning.config import EvalRunConfig, EvalSettings, ModelConfig, RolloutSettings, Sampling
    from agentbench_tuning.eval.runner import evaluate

    def settings(agent: str) -> EvalSettings:
        return EvalSettings(benchmark="alfworld-sim", agent=agent, out=str(tmp_path / agent), games=6)

    evaluate(EvalRunConfig(ModelConfig(name_or_path=""), eval=settings("expert")))
    evaluate(EvalRunConfig(ModelConfig(name_or_path=str(tiny_model_dirs["qwen2.5"])),
                           RolloutSettings(engine="transformers", sampling=Sampling(max_new_tokens=4)),
                           settings("model")))  # fmt: skip
    folder = tmp_path / "colab"
    folder.mkdir()
    outputs = execute_in_jupyter(exported, ROOT / "eval" / "report.py",
                                 f"--runs {tmp_path / 'expert'},{tmp_path / 'model'}", folder)  # fmt: skip
    # The same verdict and sign convention as `abtune report --compare expert model`: the expert solves all 6
    # games, the random tiny model none; h = 2·asin(√0) − 2·asin(√1) = −π.
    assert "expert is better than model: model 0.0% vs expert 100.0%" in outputs
    assert "Cohen's h = -3.142 (positive: model is higher than expert) over 6 matched (item, seed) pairs" in outputs
