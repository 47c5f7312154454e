"""Wall time and loss of the CPU debug SFT run (configs/debug.yaml), written to benchmarks/results/.

    python benchmarks/sft_debug.py [--config configs/debug.yaml] [key=value ...]
-> benchmarks/results/sft_debug.{json,md}: wall seconds (data generation + model + training + save),
   training seconds, steps/s, first/last logged loss, trained tokens, machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

from agentbench_tuning.config import load_sft_config
from agentbench_tuning.records import write_json_atomic
from agentbench_tuning.training.sft import build_sft_trainer, train

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/debug.yaml")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    out_dir = Path("runs/bench_sft_debug")
    shutil.rmtree(out_dir, ignore_errors=True)
    cfg = load_sft_config(args.config, [*args.overrides, f"train.output_dir={out_dir}"])
    started = time.perf_counter()
    setup = build_sft_trainer(cfg)
    built = time.perf_counter()
    result = train(setup, cfg)
    done = time.perf_counter()
    losses = result.losses
    row = {
        "config": args.config,
        "overrides": args.overrides,
        "steps": result.global_step,
        "wall_s": round(done - started, 1),
        "setup_s": round(built - started, 1),
        "train_s": round(done - built, 1),
        "steps_per_s": round(result.global_step / (done - built), 3),
        "first_loss": round(losses[0], 4),
        "last_loss": round(losses[-1], 4),
        "train_examples": len(setup.trainer.train_dataset),
        "trained_tokens": setup.context_train.trained_tokens_after,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(exist_ok=True)
    write_json_atomic(RESULTS / "sft_debug.json", row)
    lines = [
        "# CPU debug SFT",
        "",
        f"`python benchmarks/sft_debug.py --config {args.config}`",
        "",
        "| metric | value |",
        "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in row.items()]
    (RESULTS / "sft_debug.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
