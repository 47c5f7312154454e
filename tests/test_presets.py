"""Shipped presets resolve in a checkout, from any working directory, and inside the built wheel (Colab)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agentbench_tuning.presets import list_presets, presets_dir, resolve_config

ROOT = Path(__file__).resolve().parents[1]


def test_every_repository_preset_is_a_packaged_preset():
    assert list_presets() == sorted(f"configs/{p.name}" for p in (ROOT / "configs").glob("*.yaml"))
    assert "configs/debug.yaml" in list_presets()
    assert (presets_dir() / "debug.yaml").read_bytes() == (ROOT / "configs" / "debug.yaml").read_bytes()


def test_resolve_config_outside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Colab starts in /content, where there is no configs/
    assert resolve_config("configs/debug.yaml") == presets_dir() / "debug.yaml"
    assert resolve_config("debug.yaml") == presets_dir() / "debug.yaml"
    # A file of the user's own wins over the preset of the same name.
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "debug.yaml").write_text("model: {}\n")
    assert resolve_config("configs/debug.yaml") == Path("configs/debug.yaml")
    with pytest.raises(FileNotFoundError, match=r"'configs/nope.yaml': no such file .* one of: configs/debug.yaml"):
        resolve_config("configs/nope.yaml")
    with pytest.raises(FileNotFoundError, match="pass the path to your YAML"):
        resolve_config("elsewhere/debug.yaml")  # only configs/NAME and NAME fall back to the presets


@pytest.mark.slow
def test_the_wheel_ships_the_presets(tmp_path):
    uv = shutil.which("uv") or next((str(p) for p in [Path(sys.executable).with_name("uv")] if p.exists()), None)
    if uv is None:
        pytest.skip("uv is not installed (pip install uv, or bash scripts/install.sh)")
    # sdist first, then the wheel from it: the route pip takes for `git+…`, and no build/ left in the checkout.
    result = subprocess.run([uv, "build", "--out-dir", str(tmp_path), str(ROOT)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for preset in list_presets():
        assert f"agentbench_tuning/{preset}" in names
    assert "agentbench_tuning/configs/accelerate/ddp.yaml" in names
