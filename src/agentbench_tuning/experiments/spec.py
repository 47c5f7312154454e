"""`abtune run --spec task.json` -> `result.json`: one JSON document in, one out, for scripts and agents.

The spec (schema: `experiments/schemas/run_spec.schema.json`) names the data and method (a run config path
or the config itself), the seeds, the evaluation and optionally a sweep. It is validated before anything
runs, and an error names the JSON path (`$.evaluation.benchmarks[0]: 'alfworld' is not one of ...`). The
result (schema: `result.schema.json`, checked before it is written) holds the metrics per benchmark (mean,
std and 95% CI over seeds and items, per seed, per type), the best parameters, artifact paths, MLflow run ids,
package versions and hardware.

    result = run_spec("task.json")
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from agentbench_tuning.config import ConfigError
from agentbench_tuning.eval.stats import bootstrap_ci, grid_by_item, mean_std, per_type
from agentbench_tuning.experiments.ranking import pooled_records
from agentbench_tuning.experiments.settings import EvaluationSettings, SplitSettings, SweepRunConfig
from agentbench_tuning.experiments.trials import SFTTrialRunner, TrialRunner, overrides_for
from agentbench_tuning.records import write_json_atomic


class SpecError(ConfigError):
    """A spec that does not validate; the message names the file and the JSON path."""


def schema(name: str) -> dict[str, Any]:
    """`run_spec` or `result`: the JSON Schema shipped in the package."""
    text = resources.files("agentbench_tuning.experiments").joinpath(f"schemas/{name}.schema.json").read_text()
    return json.loads(text)


def load_spec(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except json.JSONDecodeError as err:
        raise SpecError(f"{path}:{err.lineno}:{err.colno}: not valid JSON ({err.msg})") from None
    check(spec, "run_spec", str(path))
    return spec


def check(document: Any, name: str, where: str) -> None:
    """Validate against a shipped schema; the first error (deepest path first) names its JSON path."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(name))
    errors = sorted(validator.iter_errors(document), key=lambda e: (-len(e.absolute_path), e.json_path))
    if errors:
        err = errors[0]
        raise SpecError(f"{where}: {err.json_path}: {err.message}")


def evaluation_settings(spec: dict[str, Any]) -> EvaluationSettings:
    e = dict(spec["evaluation"])
    for split in ("validation", "test"):
        if split in e:
            e[split] = SplitSettings(**e[split])
    return EvaluationSettings(**e)


def run_spec(path: str | Path, runner: TrialRunner | None = None) -> dict[str, Any]:
    """Validate, (sweep,) train every seed, evaluate on the test split, write and return result.json."""
    from agentbench_tuning.tracking import hardware, log_mlflow_run, package_versions

    started = time.perf_counter()
    spec = load_spec(path)
    out = Path(spec.get("out") or f"runs/spec/{spec['name']}")
    out.mkdir(parents=True, exist_ok=True)
    base = _base_config(spec, out)
    evaluation = evaluation_settings(spec)
    seeds = spec.get("seeds", [0])
    runner = runner or SFTTrialRunner(base, evaluation)
    overrides = list(spec.get("overrides", []))
    best_params: dict[str, Any] = {}
    artifacts: dict[str, str] = {"base_config": base}
    if "sweep" in spec:
        from agentbench_tuning.config import load_config
        from agentbench_tuning.experiments.sweep import run_sweep

        sweep_cfg = load_config({**spec["sweep"], "base": base, "out": str(out / "sweep"),
                                 "evaluation": _as_dict(evaluation)}, SweepRunConfig)
        sweep = run_sweep(sweep_cfg, runner)
        best_params = dict(sweep.winner.params) if sweep.winner else {}
        artifacts["sweep"] = str(out / "sweep" / "trials.md")
    runs: dict[str, dict[int, Path]] = {}
    for seed in seeds:
        outcome = runner.run(overrides + overrides_for(best_params), seed, "test", out / f"seed-{seed}")
        for benchmark, run_dir in outcome.runs.items():
            runs.setdefault(benchmark, {})[seed] = run_dir
            artifacts[f"{benchmark}/seed-{seed}"] = str(run_dir)
        if outcome.adapter is not None:
            artifacts[f"adapter/seed-{seed}"] = str(outcome.adapter)
    metrics = {benchmark: _metrics(benchmark, by_seed) for benchmark, by_seed in runs.items()}
    run_ids = {}
    if spec.get("report_to") == "mlflow":
        flat = {f"{b}_{k}": m[k] for b, m in metrics.items() for k in ("mean", "std")}
        run_ids["mlflow"] = log_mlflow_run(spec["name"], "result", {"overrides": overrides, **best_params}, flat,
                                           [out / f"seed-{s}" for s in seeds], root=out)
    result = {"name": spec["name"], "method": spec["method"], "status": "completed", "seeds": seeds,
              "metrics": metrics, "best_params": best_params, "artifacts": artifacts, "run_ids": run_ids,
              "versions": package_versions(), "hardware": hardware(),
              "wall_s": round(time.perf_counter() - started, 1)}
    check(json.loads(json.dumps(result, default=str)), "result", str(out / "result.json"))
    write_json_atomic(out / "result.json", result)
    return result


def _base_config(spec: dict[str, Any], out: Path) -> str:
    if isinstance(spec["config"], str):
        if not Path(spec["config"]).is_file():
            raise SpecError(f"$.config: {spec['config']}: no such config file")
        return spec["config"]
    path = out / "base_config.yaml"
    path.write_text(f"# abtune run --spec (inline config of {spec['name']})\n" + yaml.safe_dump(spec["config"]),
                    encoding="utf-8")
    return str(path)


def _as_dict(evaluation: EvaluationSettings) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(evaluation)


def _metrics(benchmark: str, by_seed: dict[int, Path]) -> dict[str, Any]:
    from agentbench_tuning.envs.benchmarks import get_benchmark

    bench = get_benchmark(benchmark)
    records = pooled_records(by_seed)
    per_seed = {str(seed): bench.score([r for r in records if r["seed"] == seed])[bench.headline]
                for seed in sorted(by_seed)}
    mean, std = mean_std(list(per_seed.values()))
    ci = bootstrap_ci(grid_by_item(records)[2])
    return {"metric": bench.headline, "mean": mean, "std": std, "ci": {"low": ci.low, "high": ci.high},
            "per_seed": per_seed, "per_type": {t: {"n": p.n, "rate": p.rate} for t, p in per_type(records).items()}}
