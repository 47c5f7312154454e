"""`abtune ablate`: the base config and named variants under one protocol (same seeds, data, evaluation).

Every variant (and the base) is trained once per seed and scored on the test split of each benchmark. The
table has, per variant and benchmark, mean ± std over seeds, a 95% bootstrap CI over items and seeds, the
paired test against the base on the same (item, seed) pairs (exact McNemar / sign test) and Cohen's h
(positive: the variant scores higher than the base).

    result = run_ablation(load_config("configs/ablations/debug.yaml", AblationRunConfig))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentbench_tuning.eval.stats import bootstrap_ci, compare_runs, grid_by_item, mean_std
from agentbench_tuning.experiments.ranking import pooled_records
from agentbench_tuning.experiments.settings import AblationRunConfig
from agentbench_tuning.experiments.trials import SFTTrialRunner, TrialRunner
from agentbench_tuning.records import write_json_atomic


@dataclass
class AblationResult:
    out_dir: Path
    rows: list[dict[str, Any]]
    table: str


def run_ablation(cfg: AblationRunConfig, runner: TrialRunner | None = None) -> AblationResult:
    runner = runner or SFTTrialRunner(cfg.base, cfg.evaluation)
    out = Path(cfg.out)
    variants = {"base": [], **cfg.variants}
    runs: dict[str, dict[str, dict[int, Path]]] = {}  # variant -> benchmark -> seed -> run dir
    scores: dict[str, dict[str, dict[int, float]]] = {}
    for name, overrides in variants.items():
        for seed in cfg.seeds:
            outcome = runner.run([*cfg.overrides, *overrides], seed, "test", out / name / f"seed-{seed}")
            for benchmark in cfg.evaluation.benchmarks:
                runs.setdefault(name, {}).setdefault(benchmark, {})[seed] = outcome.runs[benchmark]
                scores.setdefault(name, {}).setdefault(benchmark, {})[seed] = outcome.scores[benchmark]
    rows = [_row(name, benchmark, scores, runs) for benchmark in cfg.evaluation.benchmarks for name in variants]
    table = ablation_table(rows)
    (out / "ablation.md").write_text("# Ablation\n\n" + table + "\n", encoding="utf-8")
    write_json_atomic(out / "ablation.json", {"rows": rows, "variants": variants, "seeds": cfg.seeds})
    from agentbench_tuning.experiments.plots import variants_plot

    for benchmark in cfg.evaluation.benchmarks:
        variants_plot([r for r in rows if r["benchmark"] == benchmark], out / f"ablation_{benchmark}.png")
    if cfg.report_to == "mlflow":
        from agentbench_tuning.tracking import log_mlflow_run

        for row in rows:
            log_mlflow_run("ablation", f"{row['variant']}-{row['benchmark']}", {"overrides": variants[row["variant"]]},
                           {k: row[k] for k in ("mean", "std", "ci_low", "ci_high")}, [out / "ablation.md"], root=out)
    return AblationResult(out, rows, table)


def _row(name: str, benchmark: str, scores, runs) -> dict[str, Any]:
    per_seed = scores[name][benchmark]
    mean, std = mean_std(list(per_seed.values()))
    records = pooled_records(runs[name][benchmark])
    ci = bootstrap_ci(grid_by_item(records)[2])
    row: dict[str, Any] = {"variant": name, "benchmark": benchmark, "per_seed": per_seed, "mean": mean, "std": std,
                           "ci_low": ci.low, "ci_high": ci.high, "p_value": None, "cohens_h": None,
                           "difference": None}
    if name != "base":
        comparison = compare_runs(pooled_records(runs["base"][benchmark]), records, names=("base", name))
        row.update(p_value=comparison.p_value, cohens_h=comparison.cohens_h, difference=comparison.difference,
                   verdict=comparison.verdict)
    return row


def ablation_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | variant | mean ± std (seeds) | 95% CI | difference vs base | paired p | Cohen's h |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = "" if r["difference"] is None else f"{100 * r['difference']:+.1f} pts"
        p = "" if r["p_value"] is None else f"{r['p_value']:.3g}"
        h = "" if r["cohens_h"] is None else f"{r['cohens_h']:+.3f}"
        lines.append(f"| {r['benchmark']} | {r['variant']} | {100 * r['mean']:.1f} ± {100 * r['std']:.1f} | "
                     f"{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f} | {diff} | {p} | {h} |")
    return "\n".join(lines)
