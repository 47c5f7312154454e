"""One trial of an experiment: train the base config with overrides and a seed, then score it on a split.

`SFTTrialRunner.run(overrides, seed, split, out_dir)` trains with `training.sft.run_sft` (resuming a trial
that was killed mid-way from its last complete checkpoint), evaluates the adapter on every benchmark of the
split through `eval.runner.evaluate` (the same harnesses and records as `abtune eval`), and returns a
`TrialOutcome` with one value per objective and the run directories. Sweeps and ablations only see the
`TrialRunner` protocol, so their selection logic is tested with planted outcomes.

    outcome = SFTTrialRunner(cfg.base, cfg.evaluation).run(["train.learning_rate=1e-4"], 0, "validation", out)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agentbench_tuning.experiments.settings import EvaluationSettings, SplitSettings


@dataclass
class TrialOutcome:
    scores: dict[str, float]  # benchmark -> headline score; "tokens:<benchmark>"; "eval_loss" when logged
    runs: dict[str, Path] = field(default_factory=dict)  # benchmark -> evaluation run directory (records)
    adapter: Path | None = None
    pruned: bool = False


class TrialRunner(Protocol):
    def run(self, overrides: list[str], seed: int, split: str, out_dir: Path,
            report: Callable[[float, int], bool] | None = None) -> TrialOutcome:
        """Train and score. `report(value, step) -> prune?` is called with intermediate validation scores."""
        ...


def overrides_for(params: dict[str, Any]) -> list[str]:
    """Trial parameters as `key=value` overrides of the base config (the same paths as on the command line)."""
    return [f"{key}={json.dumps(value)}" for key, value in sorted(params.items())]


def split_of(evaluation: EvaluationSettings, split: str) -> SplitSettings:
    if split not in ("validation", "test"):
        raise ValueError(f"split {split!r}: use validation or test")
    return evaluation.validation if split == "validation" else evaluation.test


def evaluate_adapter(model: str, adapter: Path, evaluation: EvaluationSettings, split: str,
                     out_dir: Path) -> TrialOutcome:
    """Score an adapter on every benchmark of the evaluation settings; the runs land in `out_dir/<benchmark>`."""
    from agentbench_tuning.config import (
        EvalRunConfig,
        EvalSettings,
        Limits,
        ModelConfig,
        RolloutSettings,
        Sampling,
    )
    from agentbench_tuning.eval.runner import evaluate

    part = split_of(evaluation, split)
    scores: dict[str, float] = {}
    runs: dict[str, Path] = {}
    for benchmark in evaluation.benchmarks:
        run_dir = out_dir / benchmark
        cfg = EvalRunConfig(
            ModelConfig(name_or_path=model),
            RolloutSettings(engine=evaluation.engine, adapter=str(adapter),
                            sampling=Sampling(evaluation.temperature, max_new_tokens=evaluation.max_new_tokens),
                            limits=Limits(max_context=evaluation.max_context)),
            EvalSettings(benchmark=benchmark, agent="model", out=str(run_dir), data=part.data, limit=part.limit,
                         games=part.games, game_seed=part.game_seed, overwrite=True),
        )
        result = evaluate(cfg)
        scores[benchmark] = result.summary["score"]["mean"]
        scores[f"tokens:{benchmark}"] = result.summary["tokens"]["completion"] / max(result.summary["n_episodes"], 1)
        runs[benchmark] = run_dir
    return TrialOutcome(scores, runs, adapter)


class SFTTrialRunner:
    def __init__(self, base: str, evaluation: EvaluationSettings, prune_every: int = 0):
        self.base, self.evaluation, self.prune_every = base, evaluation, prune_every

    def run(self, overrides: list[str], seed: int, split: str, out_dir: Path,
            report: Callable[[float, int], bool] | None = None) -> TrialOutcome:
        from agentbench_tuning.config import load_config
        from agentbench_tuning.training.sft import run_sft

        out_dir = Path(out_dir)
        cfg = load_config(self.base, "sft", [*overrides, f"train.seed={seed}", f"train.output_dir={out_dir / 'sft'}",
                                             "train.resume=auto"])
        callbacks = []
        if report is not None and self.prune_every > 0:
            callbacks.append(pruning_callback(self, cfg, out_dir, report))
        result = run_sft(cfg, callbacks)
        if callbacks and callbacks[0].pruned:
            return TrialOutcome({}, adapter=result.adapter_dir, pruned=True)
        outcome = evaluate_adapter(cfg.model.name_or_path, result.adapter_dir, self.evaluation, split,
                                   out_dir / f"eval-{split}")
        losses = [e["eval_loss"] for e in result.log_history if "eval_loss" in e]
        if losses:
            outcome.scores["eval_loss"] = losses[-1]
        return outcome


def pruning_callback(runner: SFTTrialRunner, cfg: Any, out_dir: Path, report: Callable[[float, int], bool]) -> Any:
    """A transformers `TrainerCallback` (imported only when pruning is on) that prunes through `report`."""
    from transformers import TrainerCallback

    return type("PruningCallback", (_Pruning, TrainerCallback), {})(runner, cfg, out_dir, report)


class _Pruning:
    """Every `prune_every` steps: save the adapter, score it on the validation split's first benchmark, and
    stop training when the pruner says the trial is behind (Optuna's median rule over earlier trials)."""

    def __init__(self, runner: SFTTrialRunner, cfg: Any, out_dir: Path, report: Callable[[float, int], bool]):
        self.runner, self.cfg, self.out_dir, self.report = runner, cfg, out_dir, report
        self.pruned = False

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.runner.prune_every or state.global_step >= state.max_steps:
            return control
        adapter = self.out_dir / "intermediate" / f"step-{state.global_step}"
        model.save_pretrained(str(adapter))
        evaluation = self.runner.evaluation
        first = EvaluationSettings(**{**evaluation.__dict__, "benchmarks": evaluation.benchmarks[:1]})
        outcome = evaluate_adapter(self.cfg.model.name_or_path, adapter, first, "validation", adapter / "eval")
        if self.report(outcome.scores[first.benchmarks[0]], state.global_step):
            self.pruned = True
            control.should_training_stop = True
        return control
