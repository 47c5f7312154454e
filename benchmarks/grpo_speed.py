"""Seconds per multi-turn GRPO step on this machine, per benchmark and generation engine, with the logprob gap.

Runs configs/grpo_debug.yaml (tiny random-weight Qwen2.5-shaped model, G=4, 4 episodes per step) for a few
steps on each benchmark with the transformers engine and, when vLLM is installed, the in-process vLLM engine
(adapter hot-swapped each step). The first step of a vLLM run includes starting the engine and is reported
apart. A random model rarely finishes a turn, so episodes are short; the numbers measure the machinery.

    python benchmarks/grpo_speed.py [--steps 3] [--benchmarks dbbench alfworld-sim] [--engines transformers vllm]
-> benchmarks/results/grpo_speed.{json,md}
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import time
from pathlib import Path

from agentbench_tuning.config import load_config
from agentbench_tuning.training.grpo import build_grpo_trainer, train

RESULTS = Path(__file__).parent / "results"


def one_run(benchmark: str, engine: str, steps: int) -> dict:
    out = Path(f"runs/bench_grpo_speed/{benchmark}_{engine}")
    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config("configs/grpo_debug.yaml", "grpo", [
        f"tasks.benchmark={benchmark}", f"rollout.engine={engine}", f"train.output_dir={out}",
        f"train.max_steps={steps}", "train.save_steps=1000"])
    started = time.perf_counter()
    result = train(build_grpo_trainer(cfg), cfg)
    wall = time.perf_counter() - started
    history = [e for e in result.log_history if "step_time" in e]
    step_times = [e["step_time"] for e in history]
    later = step_times[1:] or step_times
    return {
        "benchmark": benchmark, "engine": engine, "steps": len(step_times),
        "first_step_s": round(step_times[0], 2), "later_steps_mean_s": round(sum(later) / len(later), 2),
        "rollout_s": [round(e["rollout/seconds"], 2) for e in history],
        "rows_per_step": [e["rows/trained"] for e in history],
        "turns_per_episode": [e["episodes/turns"] for e in history],
        "logprob_gap_max": max((e["logprob_gap/max"] for e in history if e.get("logprob_gap/max") is not None),
                               default=None),
        "logprob_gap_mean": [e.get("logprob_gap/mean") for e in history],
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--benchmarks", nargs="+", default=["dbbench", "alfworld-sim"])
    parser.add_argument("--engines", nargs="+", default=["transformers", "vllm"])
    args = parser.parse_args()
    engines = [e for e in args.engines if e != "vllm" or importlib.util.find_spec("vllm")]
    rows = [one_run(b, e, args.steps) for b in args.benchmarks for e in engines]
    result = {"config": "configs/grpo_debug.yaml", "machine": f"{platform.machine()}, CPU only, 2 cores shared "
              "with other jobs (seconds include that contention)", "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "grpo_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# GRPO step time on CPU (benchmarks/grpo_speed.py)", "",
             "configs/grpo_debug.yaml: tiny random Qwen2.5-shaped model, G=4, 4 episodes/step, "
             "2 CPU cores shared with other jobs. No GPU numbers: none was available.", "",
             "| benchmark | engine | first step s | later steps s (mean) | rollout s per step | max logprob gap |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        gap = "n/a" if r["logprob_gap_max"] is None else f"{r['logprob_gap_max']:.2e}"
        lines.append(f"| {r['benchmark']} | {r['engine']} | {r['first_step_s']} | {r['later_steps_mean_s']} | "
                     f"{', '.join(map(str, r['rollout_s']))} | {gap} |")
    (RESULTS / "grpo_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
