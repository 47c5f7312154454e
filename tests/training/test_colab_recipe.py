"""The Colab recipe runs end to end in debug mode (tiny random-weight Qwen, CPU) and leaves every artefact:
the overlap check passed, a merged model, evaluations of both benchmarks and a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_recipe_debug_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    out = tmp_path / "recipe"
    result = subprocess.run([sys.executable, "training/colab_recipe.py", "--debug", "--out", str(out)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "overlap.json").read_text())["summary"]["passed"] is True
    assert (out / "sft" / "merged" / "config.json").exists()
    for bench in ("dbbench", "alfworld"):
        assert json.loads((out / "eval" / bench / "summary.json").read_text())["n_items"] >= 1
    assert "vllm serve" in result.stdout  # debug prints the serving commands instead of starting a server
