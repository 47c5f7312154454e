"""Sweeps, ablations and the JSON run spec, on planted trial outcomes (the selection logic) and, marked slow,
on real tiny SFT trials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from fake_runner import RATES, PlantedRunner

from agentbench_tuning.config import ConfigError, load_config
from agentbench_tuning.experiments.ablate import run_ablation
from agentbench_tuning.experiments.settings import AblationRunConfig, SweepRunConfig
from agentbench_tuning.experiments.spec import SpecError, check, run_spec
from agentbench_tuning.experiments.sweep import open_study, run_sweep

ROOT = Path(__file__).resolve().parents[2]


def sweep_yaml(tmp_path, n_trials=4, top_k=4, sampler="random") -> Path:
    cfg = {"base": "configs/debug.yaml", "out": str(tmp_path / "sweep"),
           "space": {"x": {"type": "categorical", "choices": ["a", "b", "c", "d"]}},
           "study": {"name": "t", "n_trials": n_trials, "sampler": sampler, "seed": 3, "pruner": "none"},
           "final": {"top_k": top_k, "seeds": [0, 1, 2, 3, 4]}}
    path = tmp_path / "sweep.yaml"
    path.write_text("# abtune sweep --config sweep.yaml\n" + yaml.safe_dump(cfg))
    return path


def test_winner_is_named_on_test_after_multiseed_retraining(tmp_path):
    # "d" leads on validation (0.9) by luck; on the test split over 5 seeds "b" (0.8) is best and "d" worst.
    cfg = load_config(sweep_yaml(tmp_path, n_trials=8), SweepRunConfig)
    runner = PlantedRunner(RATES)
    result = run_sweep(cfg, runner)
    by_validation = max(result.candidates, key=lambda c: c.validation["alfworld-sim"])
    assert by_validation.params == {"x": "d"}
    assert result.winner.params == {"x": "b"} and len(result.winner.per_seed) == 5
    tested = [c.params["x"] for c in result.candidates]
    assert len(set(tested)) == len(tested) >= 3 and tested[0] == "b" and tested[-1] == "d"  # by test mean
    assert [split for _, _, split in runner.calls[-5 * len(tested):]] == ["test"] * 5 * len(tested)
    assert "Winner: trial" in result.winner.verdict and "b" in json.dumps(result.winner.params)
    for name in ("trials.csv", "trials.md", "winner.json", "optimization_history.png"):
        assert (result.out_dir / name).is_file()
    assert set(result.importances) == {"x"}


def test_killed_sweep_resumes_without_redoing_a_trial(tmp_path):
    config = sweep_yaml(tmp_path, n_trials=4, top_k=1)
    log = tmp_path / "calls.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "fake_runner.py"), str(config), str(log)],
                            env=env, cwd=ROOT)
    cfg = load_config(config, SweepRunConfig)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (tmp_path / "sweep" / "study.db").exists() and _complete(cfg) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _complete(cfg)
    assert 2 <= done_before < 4, "the worker should have been killed mid-sweep"
    runner = PlantedRunner(RATES)
    run_sweep(cfg, runner)
    study = open_study(cfg)
    from optuna.trial import TrialState

    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 4
    validation_runs = [c for c in runner.calls if c[2] == "validation"]
    assert len(validation_runs) == 4 - done_before  # the finished trials were not trained again


def _complete(cfg) -> int:
    import optuna
    from optuna.trial import TrialState

    try:  # read-only: open_study would fail the worker's live trial
        study = optuna.load_study(study_name=cfg.study.name, storage=f"sqlite:///{Path(cfg.out) / 'study.db'}")
        return len(study.get_trials(states=(TrialState.COMPLETE,)))
    except Exception:  # the database is being created by the worker
        return 0


def test_ablation_has_one_row_per_variant_with_paired_tests(tmp_path):
    cfg = load_config({"out": str(tmp_path / "abl"), "variants": {"b": ["x=\"b\""], "c": ["x=\"c\""]},
                       "overrides": ["x=\"a\""], "seeds": [0, 1, 2]}, AblationRunConfig)
    result = run_ablation(cfg, PlantedRunner(RATES))
    assert [r["variant"] for r in result.rows] == ["base", "b", "c"]
    base, b, c = result.rows
    assert base["p_value"] is None and b["p_value"] is not None and c["p_value"] is not None
    assert b["difference"] > 0 > c["difference"] and b["cohens_h"] > 0
    assert result.table.count("\n") == 4 and (tmp_path / "abl" / "ablation_alfworld-sim.png").is_file()


def test_spec_errors_name_the_json_path_and_result_validates(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "method": "sft", "config": "configs/debug.yaml",
                               "evaluation": {"benchmarks": ["alfworld"]}}))
    with pytest.raises(SpecError, match=r"\$\.evaluation\.benchmarks\[0\]: 'alfworld' is not one of"):
        run_spec(bad)
    bad.write_text('{"name": "x",\n "method": }')
    with pytest.raises(SpecError, match=r"bad\.json:2:"):
        run_spec(bad)
    good = tmp_path / "spec.json"
    good.write_text(json.dumps({"name": "planted", "method": "sft", "config": {"model": {"name_or_path": "tiny:qwen2.5"}},
                                "overrides": ["x=\"b\""], "seeds": [0, 1, 2],
                                "evaluation": {"benchmarks": ["alfworld-sim"]}, "out": str(tmp_path / "out")}))
    result = run_spec(good, PlantedRunner(RATES))
    on_disk = json.loads((tmp_path / "out" / "result.json").read_text())
    check(on_disk, "result", "result.json")
    assert on_disk == json.loads(json.dumps(result, default=str))
    metric = result["metrics"]["alfworld-sim"]
    assert set(metric["per_seed"]) == {"0", "1", "2"} and metric["ci"]["low"] <= metric["mean"] <= metric["ci"]["high"]


def test_sweep_config_errors():
    with pytest.raises(ConfigError, match="space is empty"):
        load_config({}, SweepRunConfig)
    with pytest.raises(ConfigError, match="must be disjoint"):
        load_config({"space": {"x": {"type": "int", "low": 1, "high": 3}},
                     "evaluation": {"validation": {"game_seed": 5}, "test": {"game_seed": 5}}}, SweepRunConfig)
    with pytest.raises(ConfigError, match="need study.sampler=nsga2"):
        load_config({"space": {"x": {"type": "int", "low": 1, "high": 3}}, "objectives": ["alfworld-sim",
                     "tokens:alfworld-sim"], "directions": ["maximize", "minimize"]}, SweepRunConfig)


def test_mlflow_run_holds_params_metrics_and_artifacts(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    from agentbench_tuning.tracking import log_mlflow_run, mlflow_uri

    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    (tmp_path / "report.md").write_text("# r")
    run_id = log_mlflow_run("exp", "trial-0", {"lr": 1e-4}, {"success": 0.5},
                            [tmp_path / "adapter", tmp_path / "report.md"], root=tmp_path)
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=mlflow_uri(tmp_path))
    run = client.get_run(run_id)
    assert run.data.params == {"lr": "0.0001"} and run.data.metrics == {"success": 0.5}
    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["adapter", "report.md"]


@pytest.mark.slow
def test_real_sweep_on_tiny_sft_trials(tmp_path):
    cfg = load_config(ROOT / "configs/sweeps/debug.yaml", SweepRunConfig,
                      [f"out={tmp_path}", "study.n_trials=2", "final.top_k=1", "final.seeds=[0]",
                       "evaluation.validation.games=2", "evaluation.test.games=2"])
    result = run_sweep(cfg)
    assert len([t for t in result.trials if t["state"] == "COMPLETE"]) == 2
    assert result.winner is not None and (tmp_path / "final").is_dir()
    assert (tmp_path / "trials.md").is_file() and list(result.winner.per_seed) == [0]


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "sweeps").glob("*.yaml")) +
                         sorted((ROOT / "configs" / "ablations").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiment_configs_load(path):
    from agentbench_tuning.config import launch_command

    kind = SweepRunConfig if path.parent.name == "sweeps" else AblationRunConfig
    cfg = load_config(path, kind)
    assert launch_command(path) == f"abtune {'sweep' if kind is SweepRunConfig else 'ablate'} --config configs/{path.parent.name}/{path.name}"
    assert Path(ROOT / cfg.base).is_file()
