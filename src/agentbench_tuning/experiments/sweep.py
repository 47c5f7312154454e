"""`abtune sweep`: an Optuna search over any config key that optimises agent success, not loss.

Steps: open (or resume) the study in its SQLite file → run trials until `n_trials` are finished (complete or
pruned; a trial that a killed process left running is marked failed and its parameters are tried again) →
retrain the top-k trials with `final.seeds` and score them on the *test* split → name the winner by test
score with CIs and a paired test against the runner-up → write trials.csv/.md, importances, plots, winner.json.

    result = run_sweep(load_config("configs/sweeps/debug.yaml", SweepRunConfig))
"""

from __future__ import annotations

import csv
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentbench_tuning.experiments.ranking import Candidate, rank_candidates
from agentbench_tuning.experiments.settings import SweepRunConfig
from agentbench_tuning.experiments.trials import SFTTrialRunner, TrialRunner, overrides_for
from agentbench_tuning.locks import pid_alive
from agentbench_tuning.records import write_json_atomic


@dataclass
class SweepResult:
    out_dir: Path
    trials: list[dict[str, Any]]
    winner: Candidate | None
    candidates: list[Candidate]
    importances: dict[str, float]


def suggest(trial: Any, space: dict[str, dict]) -> dict[str, Any]:
    params = {}
    for key, spec in space.items():
        if spec["type"] == "float":
            params[key] = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
        elif spec["type"] == "int":
            params[key] = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            params[key] = trial.suggest_categorical(key, spec["choices"])
    return params


def open_study(cfg: SweepRunConfig) -> Any:
    import optuna

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    storage = cfg.study.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    samplers = {"tpe": optuna.samplers.TPESampler, "nsga2": optuna.samplers.NSGAIISampler,
                "random": optuna.samplers.RandomSampler}
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2) if cfg.study.pruner == "median" else \
        optuna.pruners.NopPruner()
    study = optuna.create_study(study_name=cfg.study.name, storage=storage, load_if_exists=True,
                                sampler=samplers[cfg.study.sampler](seed=cfg.study.seed), pruner=pruner,
                                directions=list(cfg.directions))
    _retry_interrupted(study)
    return study


def _retry_interrupted(study) -> None:
    """A trial left RUNNING by a process that is gone (killed, disconnected) is failed now and its parameters
    queued again; trials of live processes (parallel workers on other GPUs) are left alone."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("pid")
        if owner is not None and trial.user_attrs.get("host") == socket.gethostname() and pid_alive(owner):
            continue
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        study.enqueue_trial(trial.params, skip_if_exists=False)


def _finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def run_search(cfg: SweepRunConfig, runner: TrialRunner) -> Any:
    """Trials until `n_trials` have finished; each trial trains in `out/trials/trial-<number>`."""
    import optuna

    study = open_study(cfg)
    out = Path(cfg.out)

    def objective(trial):
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        params = suggest(trial, cfg.space)
        trial_dir = out / "trials" / f"trial-{trial.number:03d}"

        def report(value: float, step: int) -> bool:
            trial.report(value, step)
            return trial.should_prune()

        outcome = runner.run([*cfg.overrides, *overrides_for(params)], cfg.final.seeds[0], "validation", trial_dir,
                             report)
        if outcome.pruned:
            raise optuna.TrialPruned()
        trial.set_user_attr("scores", outcome.scores)
        trial.set_user_attr("dir", str(trial_dir))
        values = [outcome.scores[name] for name in cfg.objectives]
        return values[0] if len(values) == 1 else values

    while _finished(study) < cfg.study.n_trials:
        study.optimize(objective, n_trials=1, catch=())
    return study


def run_sweep(cfg: SweepRunConfig, runner: TrialRunner | None = None) -> SweepResult:
    runner = runner or SFTTrialRunner(cfg.base, cfg.evaluation, cfg.study.prune_every)
    study = run_search(cfg, runner)
    out = Path(cfg.out)
    trials = trials_table(study)
    candidates = rank_candidates(_top_k(study, cfg), runner, cfg, out / "final")  # on the test split
    importances = _importances(study)
    winner = candidates[0] if candidates else None
    write_outputs(out, cfg, study, trials, candidates, importances)
    if cfg.report_to == "mlflow":
        _log_mlflow(out, cfg, trials, winner)
    return SweepResult(out, trials, winner, candidates, importances)


def _top_k(study, cfg: SweepRunConfig) -> list[dict[str, Any]]:
    """The best trials on validation: by the first objective, or the Pareto front for several."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(cfg.objectives) > 1:
        chosen = study.best_trials
    else:
        chosen = sorted(done, key=lambda t: t.value, reverse=cfg.directions[0] == "maximize")
    top: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t in chosen:  # a sampler may propose the same parameters twice: retrain each set once
        key = repr(sorted(t.params.items()))
        if key not in seen and len(top) < cfg.final.top_k:
            seen.add(key)
            top.append({"number": t.number, "params": t.params, "validation": t.user_attrs.get("scores", {})})
    return top


def trials_table(study: Any) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        values = t.values if t.values is not None else []
        rows.append({"number": t.number, "state": t.state.name, "values": list(values), **t.params,
                     "seconds": round(t.duration.total_seconds(), 1) if t.duration else None})
    return rows


def _importances(study: Any) -> dict[str, float]:
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or len(study.directions) > 1 or len({t.value for t in complete}) < 2:
        return {}  # importances need several trials whose values differ
    return dict(optuna.importance.get_param_importances(study))


def write_outputs(out: Path, cfg: SweepRunConfig, study: Any, trials: list[dict[str, Any]],
                  candidates: list[Candidate], importances: dict[str, float]) -> None:
    from agentbench_tuning.experiments.plots import history_plot, pareto_plot

    keys = sorted({k for row in trials for k in row})
    with (out / "trials.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(trials)
    lines = ["# Sweep trials", "", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(row.get(k)) for k in keys) + " |" for row in trials]
    lines += ["", "## Parameter importances (fANOVA)", ""]
    lines += [f"- {k}: {v:.3f}" for k, v in importances.items()] or ["(too few differing trials)"]
    lines += ["", "## Winner (test split, retrained with every final seed)", ""]
    for c in candidates:
        lines.append(f"- trial {c.number} {c.params}: test {c.mean:.3f} (95% CI {c.ci_low:.3f}–{c.ci_high:.3f}, "
                     f"seeds {c.per_seed}); validation {c.validation}")
    if candidates:
        lines += ["", candidates[0].verdict]
    (out / "trials.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    history_plot(study, out / "optimization_history.png")
    if len(cfg.objectives) > 1:
        pareto_plot(study, cfg.objectives, out / "pareto.png")
    write_json_atomic(out / "winner.json", {
        "winner": asdict(candidates[0]) if candidates else None,
        "candidates": [asdict(c) for c in candidates], "importances": importances,
        "objectives": cfg.objectives, "directions": cfg.directions})


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return "" if value is None else str(value)


def _log_mlflow(out: Path, cfg: SweepRunConfig, trials, winner) -> None:
    from agentbench_tuning.tracking import log_mlflow_run

    for row in trials:
        values = {f"objective_{i}": v for i, v in enumerate(row["values"])}
        params = {k: v for k, v in row.items() if k not in ("values", "state", "seconds")}
        trial_dir = out / "trials" / f"trial-{row['number']:03d}"
        log_mlflow_run(cfg.study.name, f"trial-{row['number']}", params, values,
                       [trial_dir / "sft" / "final"], root=out)
    if winner is not None:
        log_mlflow_run(cfg.study.name, "winner", winner.params, {"test_mean": winner.mean},
                       [out / "trials.md", out / "winner.json"], root=out)
