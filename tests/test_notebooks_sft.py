"""The SFT notebook run as a script (`python training/sft.py --config configs/debug.yaml`, the README's way)
trains exactly the config's steps, prints plain progress (no `<IPython.core.display.HTML object>` lines, no
`kernels` probe warning), and a second run of the same finished config trains nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("IPython.core.display", "HTML object", "gemm_4bit_forward")

pytestmark = pytest.mark.slow


def run_notebook(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "training/sft.py", *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [n for n in NOISE if n in result.stdout + result.stderr], result.stdout[-2000:]
    return result


def test_script_mode_trains_the_configs_steps_then_reports_the_finished_run(tmp_path):
    out = tmp_path / "run"
    args = ("--config", "configs/debug.yaml", "--train.max_steps", "2", "--train.output_dir", str(out))
    first = run_notebook(*args)
    assert f"Trained 2 steps; adapter saved to `{out / 'final'}`" in first.stdout
    assert json.loads((out / "final" / "trainer_state.json").read_text())["global_step"] == 2
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    # Everything else is the YAML's: no widget default replaced it.
    resolved = yaml.safe_load((out / "resolved_config.yaml").read_text())
    expected = yaml.safe_load((ROOT / "configs" / "debug.yaml").read_text())
    expected["train"].update(max_steps=2, output_dir=str(out))
    for section, values in expected.items():
        assert {k: resolved[section][k] for k in values} == values
    adapter = (out / "final" / "adapter_model.safetensors").read_bytes()

    second = run_notebook(*args)
    assert f"Nothing trained: {out} already finished: step 2 of 2" in second.stdout
    assert "Trained" not in second.stdout
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert (out / "final" / "adapter_model.safetensors").read_bytes() == adapter
