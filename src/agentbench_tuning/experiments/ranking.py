"""Naming a winner honestly: candidates retrained with several seeds, scored on the test split, compared.

A trial that led on validation may have been lucky. Each candidate is retrained once per final seed and
scored on the test split; its records from all seeds are pooled, keyed by (item, training seed), so the
mean, a bootstrap CI over items and seeds, and a paired comparison with the runner-up (same items, same
seeds) come from `eval.stats`. The winner is the best test mean, whatever validation said.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbench_tuning.eval.stats import bootstrap_ci, compare_runs, grid_by_item
from agentbench_tuning.experiments.settings import SweepRunConfig
from agentbench_tuning.experiments.trials import TrialRunner, overrides_for
from agentbench_tuning.records import latest_records


@dataclass
class Candidate:
    number: int
    params: dict[str, Any]
    validation: dict[str, float]
    per_seed: dict[int, float]
    mean: float
    ci_low: float
    ci_high: float
    verdict: str = ""


def pooled_records(run_dirs: dict[int, Path]) -> list[dict[str, Any]]:
    """Records of one benchmark over training seeds, re-keyed (index, training seed)."""
    pooled = []
    for seed, run_dir in sorted(run_dirs.items()):
        pooled += [{**r, "seed": seed} for r in latest_records(Path(run_dir) / "records.jsonl")]
    return pooled


def rank_candidates(top: list[dict[str, Any]], runner: TrialRunner, cfg: SweepRunConfig, out: Path) -> list[Candidate]:
    """Retrain every candidate with `cfg.final.seeds` on the test split; best test value of the first objective
    first (its benchmark's success when the search minimised validation loss). CIs and the paired test are
    over that benchmark's success records."""
    key = cfg.objectives[0] if cfg.objectives[0] != "eval_loss" else cfg.evaluation.benchmarks[0]
    maximize = cfg.directions[0] == "maximize" or cfg.objectives[0] == "eval_loss"
    benchmark = key.removeprefix("tokens:")
    scored = []
    for entry in top:
        runs: dict[int, Path] = {}
        per_seed: dict[int, float] = {}
        for seed in cfg.final.seeds:
            outcome = runner.run([*cfg.overrides, *overrides_for(entry["params"])], seed, "test",
                                 out / f"trial-{entry['number']:03d}" / f"seed-{seed}")
            runs[seed] = outcome.runs[benchmark]
            per_seed[seed] = outcome.scores[key]
        records = pooled_records(runs)
        _, _, grid = grid_by_item(records)
        ci = bootstrap_ci(grid)
        mean = sum(per_seed.values()) / len(per_seed)
        scored.append((Candidate(entry["number"], entry["params"], entry["validation"], per_seed, mean, ci.low,
                                 ci.high), records))
    scored.sort(key=lambda pair: pair[0].mean, reverse=maximize)
    if len(scored) > 1:
        (best, best_records), (second, second_records) = scored[0], scored[1]
        comparison = compare_runs(second_records, best_records,
                                  names=(f"trial {second.number}", f"trial {best.number}"))
        best.verdict = f"Winner: trial {best.number} by test mean. Against the runner-up: {comparison.verdict}"
    elif scored:
        scored[0][0].verdict = f"Winner: trial {scored[0][0].number} (the only candidate)."
    return [candidate for candidate, _ in scored]
