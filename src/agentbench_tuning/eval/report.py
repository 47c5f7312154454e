"""Reports over evaluation runs: `report.md` with tables and PNG plots, and an optional paired comparison.

A run directory holds `records.jsonl` (from `evaluate_model` or the scripted agents) and, when it was a
training run too, trainer logs (see `eval.diagnose.load_training_log`). Statistics are recomputed from the
records, so a report never trusts a stale `summary.json`.

    abtune report runs/eval/base runs/eval/sft --compare runs/eval/base runs/eval/sft --out reports/sft
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agentbench_tuning.envs.benchmarks import get_benchmark
from agentbench_tuning.eval.diagnose import TrainingLog, load_training_log
from agentbench_tuning.eval.stats import Comparison, compare_runs, summarize_records
from agentbench_tuning.records import RecordError, latest_records


@dataclass
class Run:
    name: str
    path: Path
    records: list[dict]
    summary: dict
    training: TrainingLog | None


@dataclass
class Report:
    path: Path
    text: str
    plots: list[Path] = field(default_factory=list)
    comparison: Comparison | None = None


def load_run(run_dir: str | Path) -> Run:
    """A run's records (validated, one per (index, seed)), scored by its benchmark's rule from the table."""
    path = Path(run_dir)
    records_path = path / "records.jsonl"
    if not records_path.is_file():
        raise FileNotFoundError(f"{records_path}: no records; run `abtune eval ... --out {path}` first")
    records = latest_records(records_path)
    if not records:
        raise ValueError(f"{records_path}: empty; the evaluation has not finished a single episode")
    benchmarks = {r["benchmark"] for r in records}
    if len(benchmarks) != 1:
        raise RecordError(f"{records_path}: records of several benchmarks ({', '.join(sorted(benchmarks))}); "
                          "one run directory holds one benchmark")
    bench = get_benchmark(benchmarks.pop())
    complete = _complete_cells(records)
    summary = summarize_records(complete, metric=bench.score, key=bench.headline)
    summary["incomplete_episodes"] = len(records) - len(complete)
    summary["benchmark"] = bench.name
    summary["agent"] = records[0]["agent"]
    return Run(path.name or str(path), path, complete, summary, load_training_log(path))


def _complete_cells(records: list[dict]) -> list[dict]:
    """Keep items that have a record for every seed (an interrupted run may miss some)."""
    seeds = {r.get("seed", 0) for r in records}
    by_item: dict[int, set] = {}
    for r in records:
        by_item.setdefault(r["index"], set()).add(r.get("seed", 0))
    whole = {i for i, s in by_item.items() if s == seeds}
    return [r for r in records if r["index"] in whole]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def summary_table(runs: list[Run]) -> str:
    lines = ["| run | agent | metric | score (mean ± std over seeds) | seeds | items | success 95% CI (Wilson, "
             "episodes pooled) | bootstrap 95% CI (items and seeds) |",
             "|---|---|---|---|---|---|---|---|"]
    for run in runs:
        s = run.summary
        ci, boot = s["success"]["ci"], s["bootstrap_ci"]
        lines.append(f"| {run.name} | {s.get('agent', '')} | {s['metric']} | {_pct(s['score']['mean'])} ± {_pct(s['score']['std'])} | "
                     f"{len(s['seeds'])} | {s['n_items']} | {_pct(ci['low'])}–{_pct(ci['high'])} | "
                     f"{_pct(boot['low'])}–{_pct(boot['high'])} |")
    return "\n".join(lines)


def type_table(run: Run) -> str:
    lines = ["| type | n | success % | 95% CI |", "|---|---|---|---|"]
    for name, p in run.summary["per_type"].items():
        lines.append(f"| {name} | {p['n']} | {_pct(p['rate'])} | {_pct(p['ci']['low'])}–{_pct(p['ci']['high'])} |")
    return "\n".join(lines)


def status_table(runs: list[Run]) -> str:
    statuses = sorted({s for run in runs for s in run.summary["status"]})
    lines = ["| run | " + " | ".join(statuses) + " |", "|---" * (len(statuses) + 1) + "|"]
    for run in runs:
        lines.append(f"| {run.name} | " + " | ".join(_pct(run.summary["status"].get(s, 0.0)) for s in statuses) + " |")
    return "\n".join(lines)


def write_report(run_dirs: list[str | Path], out_dir: str | Path, compare: tuple[str, str] | None = None) -> Report:
    """Write `out_dir/report.md` and its plots; return the text (the CLI prints it)."""
    from agentbench_tuning.eval import plots

    runs = [load_run(d) for d in run_dirs]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = [plots.per_type_plot(runs, out_dir / "per_type.png"), plots.status_plot(runs, out_dir / "status.png")]
    curves = plots.learning_curves(runs, out_dir / "learning_curves.png")
    if curves:
        figures.append(curves)
    parts = ["# Evaluation report", "", summary_table(runs), "", "## Status breakdown (% of episodes)", "",
             status_table(runs), ""]
    for run in runs:
        parts += [f"## {run.name}: success by type", "", type_table(run), ""]
        if run.summary["incomplete_episodes"]:
            parts += [f"{run.summary['incomplete_episodes']} records of items missing a seed were left out.", ""]
    comparison = None
    if compare:
        comparison = _compare(runs, run_dirs, compare)
        parts += ["## Paired comparison", "", comparison.verdict, "",
                  f"Cohen's h = {comparison.cohens_h:+.3f} (positive: {compare[1]} is higher than {compare[0]}) over "
                  f"{comparison.n_pairs} matched (item, seed) pairs.", ""]
    parts += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in figures]
    text = "\n".join(parts) + "\n"
    path = out_dir / "report.md"
    path.write_text(text, encoding="utf-8")
    return Report(path, text, figures, comparison)


def _compare(runs: list[Run], run_dirs, names: tuple[str, str]) -> Comparison:
    def find(name: str) -> Run:
        for run, d in zip(runs, run_dirs, strict=False):
            if name in (run.name, str(d), str(Path(d))):
                return run
        return load_run(name)

    a, b = find(names[0]), find(names[1])
    return compare_runs(a.records, b.records, names=(a.name, b.name))


def write_demo_runs(root: str | Path, n_items: int = 40, seeds: tuple[int, ...] = (0, 1, 2)) -> list[Path]:
    """Two SYNTHETIC record sets with a known difference (for the notebook's debug mode and the docs):
    "demo-base" solves about half the items, "demo-sft" about 70%, with seed-to-seed noise. Not real results."""
    import random

    from agentbench_tuning.records import RecordWriter

    rng = random.Random(0)
    difficulty = [rng.random() for _ in range(n_items)]
    paths = []
    for name, skill in (("demo-base", 0.5), ("demo-sft", 0.7)):
        path = Path(root) / name
        with RecordWriter(path / "records.jsonl") as writer:
            for seed in seeds:
                for i, d in enumerate(difficulty):
                    if writer.done(i, seed):
                        continue
                    ok = d + rng.gauss(0, 0.1) < skill
                    status = "completed" if ok else rng.choice(["agent invalid action", "task limit reached"])
                    writer.append(synthetic_record(i, seed, ("put", "clean", "heat")[i % 3], ok, status))
        paths.append(path)
    return paths


def synthetic_record(index: int, seed: int, type: str, success: bool, status: str) -> dict:
    """A record in the one format with no episode behind it (demo and test data only)."""
    return {"index": index, "seed": seed, "benchmark": "alfworld-sim", "agent": "synthetic", "type": type,
            "status": status, "reward": float(success), "success": success, "verdict": success, "turns": 0,
            "messages": [], "prompt_tokens": 0, "completion_tokens": 0, "max_prompt_tokens": 0,
            "finish_reasons": [], "generate_s": 0.0, "env_s": 0.0, "wall_s": 0.0, "info": {}}
