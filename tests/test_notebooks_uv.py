"""Each notebook's PEP 723 block resolves on its own, the way `uv run training/sft.py` and
`marimo edit --sandbox training/sft.py` build its environment: the toolkit from this checkout (a path source),
everything else from PyPI. Resolution only: `uv lock --script NB --dry-run` reads package metadata, writes no
lock file and downloads no wheels (no GPU wheels either), so it runs on a CPU machine in seconds.

    uv lock --script training/sft.py --dry-run     # by hand (docs/colab.md)

The exported copy of each notebook (its toolkit source pointing at git) resolves the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentbench_tuning.notebook_export import find_notebooks, with_git_source

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT)
# The venv's uv (scripts/install.sh installs it) even when the venv's bin/ is not on PATH.
UV = shutil.which("uv") or next((str(p) for p in [Path(sys.executable).with_name("uv")] if p.exists()), None)


@pytest.mark.skipif(UV is None, reason="uv is not installed: pip install uv (scripts/install.sh does)")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[str(nb.relative_to(ROOT)) for nb in NOTEBOOKS])
def test_notebook_block_resolves_with_the_toolkit_from_this_checkout(notebook, tmp_path):
    assert UV is not None
    # From elsewhere: the block's path source is relative to the notebook, not to the working directory.
    result = subprocess.run([UV, "lock", "--script", str(notebook), "--dry-run"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, f"{notebook.name}: its `# /// script` block does not resolve:\n{result.stderr}"
    assert "Add agentbench-tuning v" in result.stderr
    assert "Add marimo v" in result.stderr
    assert not notebook.with_name(notebook.name + ".lock").exists()  # a dry run writes nothing


@pytest.mark.skipif(UV is None, reason="uv is not installed: pip install uv (scripts/install.sh does)")
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[str(nb.relative_to(ROOT)) for nb in NOTEBOOKS])
def test_exported_notebook_resolves_from_git_without_a_checkout(notebook, tmp_path):
    # What scripts/export_to_ipynb.sh writes beside each ipynb, with this repository's committed HEAD as the
    # git source (file://, so the test needs no hosting).
    assert UV is not None
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    if head.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout: {head.stderr.strip()}")
    standalone = tmp_path / notebook.name
    standalone.write_text(with_git_source(notebook, ROOT.as_uri(), head.stdout.strip()), encoding="utf-8")
    result = subprocess.run([UV, "lock", "--script", str(standalone), "--dry-run"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, f"exported {notebook.name} does not resolve from git:\n{result.stderr}"
    assert f"Add agentbench-tuning v0.1.0 ({head.stdout.strip()[:8]})" in result.stderr
