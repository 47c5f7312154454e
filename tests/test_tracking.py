"""Run metadata next to outputs, and the report_to mapping."""

from __future__ import annotations

import json
import os

import pytest

from agentbench_tuning.tracking import report_to, save_run_metadata


def test_run_json_has_config_seeds_commit_versions_hardware(tmp_path):
    path = save_run_metadata(tmp_path, {"model": "tiny", "temperature": 0.0}, [0, 1, 2])
    meta = json.loads(path.read_text())
    assert meta["config"] == {"model": "tiny", "temperature": 0.0} and meta["seeds"] == [0, 1, 2]
    # This test runs inside the repository's git checkout: the commit is a 40-hex sha.
    assert len(meta["git"]["commit"]) == 40 and isinstance(meta["git"]["dirty"], bool)
    assert meta["packages"]["torch"] and meta["packages"]["transformers"]
    assert meta["hardware"]["cpu_count"] == os.cpu_count()
    # Resuming keeps the first invocation's metadata instead of overwriting it.
    save_run_metadata(tmp_path, {"model": "tiny", "temperature": 0.5}, [0])
    again = json.loads(path.read_text())
    assert again["previous"]["config"]["temperature"] == 0.0 and again["config"]["temperature"] == 0.5


def test_report_to(monkeypatch):
    assert report_to("none") == []
    with pytest.raises(ValueError, match="report_to must be one of none, wandb, wandb-offline, tensorboard, mlflow"):
        report_to("comet")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert report_to("mlflow") == ["mlflow"]  # a local SQLite store unless MLFLOW_TRACKING_URI says otherwise
    assert os.environ["MLFLOW_TRACKING_URI"].startswith("sqlite:///") and os.environ["MLFLOW_TRACKING_URI"].endswith("mlflow.db")
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ModuleNotFoundError, match="needs the 'tensorboard' package"):
            report_to("tensorboard")
    else:
        assert report_to("tensorboard") == ["tensorboard"]
    if importlib.util.find_spec("wandb") is not None:
        monkeypatch.delenv("WANDB_MODE", raising=False)
        assert report_to("wandb-offline") == ["wandb"] and os.environ["WANDB_MODE"] == "offline"
