"""`uv.lock` is committed and matches pyproject.toml (what `uv sync` installs on a GPU machine). CI runs this;
it resolves against PyPI's metadata and downloads no wheels.

    uv lock --check          # the same check by hand; after editing dependencies: uv lock, commit uv.lock
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The venv's uv (scripts/install.sh installs it) even when the venv's bin/ is not on PATH.
UV = shutil.which("uv") or next((str(p) for p in [Path(sys.executable).with_name("uv")] if p.exists()), None)
pytestmark = pytest.mark.skipif(UV is None, reason="uv is not installed: pip install uv (scripts/install.sh does)")


def uv_lock_check(project: Path, *flags: str) -> subprocess.CompletedProcess:
    assert UV is not None
    return subprocess.run([UV, "lock", "--check", *flags], cwd=project, capture_output=True, text=True, timeout=300)


def test_uv_lock_matches_pyproject():
    result = uv_lock_check(ROOT)
    assert result.returncode == 0, (
        f"uv.lock is out of date with pyproject.toml; run `uv lock` and commit uv.lock:\n{result.stderr[-2000:]}"
    )


def test_uv_lock_check_catches_a_dependency_added_without_relocking(tmp_path):
    for name in ("pyproject.toml", "uv.lock", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "src" / "agentbench_tuning").mkdir(parents=True)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('    "nltk>=3.9",\n', '    "nltk>=3.9",\n    "packaging>=20",\n'))
    assert "packaging>=20" in pyproject.read_text()
    result = uv_lock_check(tmp_path)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr
