"""Does DPO learn on our own simulator? SFT warm start -> evaluate -> one explore/pair/DPO round -> evaluate.

    python benchmarks/dpo_learning.py [--model smollm2] [--sft-steps 60] [--eval-tasks 40] [--explore-tasks 40]
-> benchmarks/results/dpo_learning.{json,md,png}

A small model is briefly SFT-ed on generated DB Bench expert conversations (`gen:dbbench:N`, training tables)
until it succeeds on some tasks; it then explores other generated training tasks at temperature 0.7, its
failures are paired with the expert's trajectories of the same tasks (whole trajectories, observations masked),
and DPO trains from the SFT adapter (its frozen copy is the reference). Both adapters are evaluated on
generated tasks on *held-out* tables (the generator's held-out split: no table of it is ever trained on) with
`eval.seeds` sampled seeds, and compared item by item (`eval.stats.compare_runs`: paired bootstrap 95% CI,
exact sign test). Every number in the output is measured by this script; nothing is filled in by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from agentbench_tuning.config import (
    EvalRunConfig,
    EvalSettings,
    ModelConfig,
    RolloutSettings,
    Sampling,
    load_config,
)
from agentbench_tuning.data.from_runs import load_run_records
from agentbench_tuning.eval.runner import evaluate
from agentbench_tuning.eval.stats import compare_runs, summarize_records, wilson_interval
from agentbench_tuning.records import write_json_atomic
from agentbench_tuning.training.dpo_round import dpo_round
from agentbench_tuning.training.sft import run_sft

RESULTS = Path(__file__).parent / "results"


def heldout_tasks(n: int, seed: int, out: Path) -> Path:
    """n generated DB Bench samples on held-out tables (never trained on), as a v0.2 JSONL file."""
    from agentbench_tuning.envs.dbbench import SQLiteBackend
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate

    path = out / "heldout_tasks.jsonl"
    if path.is_file():
        return path
    backend = SQLiteBackend()
    try:
        samples = [g for g in generate(DBGenConfig(n=n * 12, seed=seed, heldout_fraction=0.1), backend) if g.heldout]
    finally:
        backend.close()
    if len(samples) < n:
        raise RuntimeError(f"only {len(samples)} held-out samples generated, {n} wanted")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(g.task.to_sample()) + "\n" for g in samples[:n]))
    return path


def evaluate_adapter(model: str, adapter: str, tasks: Path, seeds: list[int], out: Path, max_new_tokens: int) -> list:
    cfg = EvalRunConfig(
        model=ModelConfig(name_or_path=model),
        rollout=RolloutSettings(engine="transformers", adapter=adapter, batch_size=8,
                                sampling=Sampling(temperature=0.7, max_new_tokens=max_new_tokens)),
        eval=EvalSettings(benchmark="dbbench", agent="model", seeds=seeds, out=str(out), data=str(tasks),
                          backend="sqlite"))
    evaluate(cfg)
    return load_run_records([out])


def sft_warm_start(model: str, steps: int, n_conversations: int, out: Path):
    cfg = load_config({
        "model": {"name_or_path": model, "dtype": "float32"},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "data": {"train": [f"gen:dbbench:{n_conversations}"], "eval_fraction": 0.0, "max_length": 2048},
        "train": {"output_dir": str(out), "max_steps": steps, "per_device_train_batch_size": 2,
                  "gradient_accumulation_steps": 2, "learning_rate": 5e-4, "warmup_ratio": 0.05,
                  "precision": "fp32", "gradient_checkpointing": False, "logging_steps": 5,
                  "save_steps": max(steps // 2, 1), "eval_steps": 10_000},
    }, "sft")
    return run_sft(cfg)


def dpo_round_config(model: str, adapter: str, args, out: Path):
    return load_config({
        "model": {"name_or_path": model, "dtype": "float32"},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0},
        "pairs": {"max_length": 2048},
        "dpo": {"beta": args.beta, "loss_type": args.loss_type, "init_adapter": adapter},
        "explore": {"benchmark": "dbbench", "tasks": args.explore_tasks, "task_seed": 2, "seeds": [0, 1],
                    "out": str(out / "round"), "engine": "transformers", "temperature": 0.7,
                    "max_new_tokens": args.max_new_tokens, "batch_size": 8},
        "train": {"output_dir": str(out / "round" / "dpo"), "num_train_epochs": args.dpo_epochs,
                  "per_device_train_batch_size": 1, "gradient_accumulation_steps": 4,
                  "learning_rate": args.dpo_lr, "warmup_ratio": 0.1, "precision": "fp32",
                  "gradient_checkpointing": False, "logging_steps": 1, "save_steps": 1000},
    }, "dpo")


def rate(records: list) -> dict:
    wins = sum(bool(r["success"]) for r in records)
    ci = wilson_interval(wins, len(records))
    return {"success": round(wins / len(records), 4), "n_episodes": len(records),
            "wilson95": [round(ci.low, 4), round(ci.high, 4)]}


def plot(row: dict, log_history: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    names = ["SFT warm start", "SFT + DPO"]
    vals = [row["sft_eval"]["success"], row["dpo_eval"]["success"]]
    errs = [[v - row[k]["wilson95"][0] for v, k in zip(vals, ("sft_eval", "dpo_eval"), strict=True)],
            [row[k]["wilson95"][1] - v for v, k in zip(vals, ("sft_eval", "dpo_eval"), strict=True)]]
    axes[0].bar(names, vals, yerr=errs, capsize=6, color=["#888", "#3a7"])
    axes[0].set_ylabel("success on held-out tables")
    axes[0].set_title("95% Wilson CI")
    for ax, keys in ((axes[1], ["loss"]), (axes[2], ["rewards/margins", "rewards/accuracies"])):
        for key in keys:
            points = [(e["step"], e[key]) for e in log_history if key in e]
            if points:
                ax.plot(*zip(*points, strict=True), label=key)
        ax.set_xlabel("DPO step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_report(row: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    write_json_atomic(RESULTS / "dpo_learning.json", row)
    c = row["comparison"]
    lines = ["# DPO learning check (DB Bench simulator, held-out tables)", "",
             f"`{row['command']}`", "",
             "| run | success | 95% CI (Wilson) | episodes |", "|---|---|---|---|",
             *[f"| {name} | {row[k]['success']:.3f} | {row[k]['wilson95']} | {row[k]['n_episodes']} |"
               for name, k in (("SFT warm start", "sft_eval"), ("SFT + DPO", "dpo_eval"))], "",
             f"Paired (items x seeds): difference {c['difference']:+.3f}, 95% CI [{c['ci']['low']:.3f}, "
             f"{c['ci']['high']:.3f}], sign test p = {c['p_value']:.3g}; {c['verdict']}", "",
             f"Exploration: success {row['explore_success']:.3f}, {row['pairs']} trajectory pairs; DPO "
             f"{row['dpo_steps']} steps, loss {row['dpo_loss_first']} -> {row['dpo_loss_last']}, reward margin "
             f"{row['dpo_margin_first']} -> {row['dpo_margin_last']}.", "",
             f"Machine: {row['machine']}; wall {row['wall_s']} s. ![curves](dpo_learning.png)"]
    (RESULTS / "dpo_learning.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--out", default="runs/bench_dpo_learning")
    parser.add_argument("--sft-steps", type=int, default=60)
    parser.add_argument("--sft-conversations", type=int, default=120)
    parser.add_argument("--eval-tasks", type=int, default=40)
    parser.add_argument("--eval-seeds", default="0,1")
    parser.add_argument("--explore-tasks", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--loss-type", default="sigmoid")
    parser.add_argument("--dpo-lr", type=float, default=5e-5)
    parser.add_argument("--dpo-epochs", type=float, default=2.0)
    args = parser.parse_args()
    out, seeds = Path(args.out), [int(s) for s in args.eval_seeds.split(",")]
    started = time.perf_counter()
    progress = {"command": "python benchmarks/dpo_learning.py " + " ".join(sys.argv[1:]), "finished": False,
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU"}

    def stage(name: str, **values) -> None:  # what a run stopped midway had measured, stage by stage
        progress[name] = {**values, "elapsed_s": round(time.perf_counter() - started, 1)}
        RESULTS.mkdir(exist_ok=True)
        write_json_atomic(RESULTS / "dpo_learning.partial.json", progress)

    sft = sft_warm_start(args.model, args.sft_steps, args.sft_conversations, out / "sft")
    stage("sft", steps=sft.global_step, losses=[round(x, 4) for x in sft.losses])
    tasks = heldout_tasks(args.eval_tasks, seed=11, out=out)
    sft_records = evaluate_adapter(args.model, str(sft.adapter_dir), tasks, seeds, out / "eval_sft", args.max_new_tokens)
    stage("sft_eval", **rate(sft_records))
    result = dpo_round(dpo_round_config(args.model, str(sft.adapter_dir), args, out), evaluate)
    stage("round", explore_success=result.explore_success_rate, pairs=result.pairs,
          dpo_losses=result.dpo.curve("loss") if result.dpo else None)
    if result.dpo is None:
        raise SystemExit(f"no pairs: exploration success {result.explore_success_rate}; nothing to compare")
    dpo_records = evaluate_adapter(args.model, str(result.dpo.adapter_dir), tasks, seeds, out / "eval_dpo",
                                   args.max_new_tokens)
    comparison = compare_runs(sft_records, dpo_records, names=("SFT", "SFT+DPO"))
    losses, margins = result.dpo.curve("loss"), result.dpo.curve("rewards/margins")
    row = {
        "command": "python benchmarks/dpo_learning.py " + " ".join(f"--{k.replace('_', '-')} {v}"
                                                                   for k, v in vars(args).items()),
        "finished": True,
        "model": args.model, "sft_steps": sft.global_step, "sft_loss": [round(x, 4) for x in sft.losses[:1] + sft.losses[-1:]],
        "sft_eval": rate(sft_records), "dpo_eval": rate(dpo_records),
        "sft_eval_summary": summarize_records(sft_records), "dpo_eval_summary": summarize_records(dpo_records),
        "comparison": {**comparison.__dict__, "ci": comparison.ci.__dict__},
        "explore_success": round(result.explore_success_rate, 4), "pairs": result.pairs,
        "dpo_steps": result.dpo.global_step,
        "dpo_loss_first": round(losses[0], 4), "dpo_loss_last": round(losses[-1], 4),
        "dpo_margin_first": round(margins[0], 4), "dpo_margin_last": round(margins[-1], 4),
        "wall_s": round(time.perf_counter() - started, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "date": time.strftime("%Y-%m-%d"),
    }
    plot(row, result.dpo.log_history, RESULTS / "dpo_learning.png")
    write_report(row)


if __name__ == "__main__":
    main()
