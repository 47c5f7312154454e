"""Hold the memory planner to a fake-tensor trace of the real training step, at the real Qwen shapes.

    PYTHONPATH=src python benchmarks/plan_trace.py            # presets + grid, full depth (~10 min, 2 cores)
    PYTHONPATH=src python benchmarks/plan_trace.py --quick    # presets only
    PYTHONPATH=src python benchmarks/plan_trace.py --depths 2,4   # shallow traces, extended per layer

Every row traces one optimizer step (forward, backward, AdamW with its state already allocated) of the full-depth model on fake tensors on
the CPU (agentbench_tuning.plan_trace) and compares the peak with `plan_memory(...).traceable` (the plan less
the CUDA-context/fragmentation allowance, which no trace sees). No GPU was used. Writes
benchmarks/results/plan_trace.json and .md; exits 1 if any row is off by more than 10%.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import itertools
import json
import os
import platform
import sys
from pathlib import Path

from agentbench_tuning.config import load_sft_config
from agentbench_tuning.plan import PlanRequest, plan_memory, sft_plan_request
from agentbench_tuning.plan_shapes import QWEN3_4B, QWEN25_7B
from agentbench_tuning.plan_trace import trace_extrapolated, trace_step

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
GiB = 1024**3
TOLERANCE = 0.10
SPECIAL_ROWS = 6  # the rows grid_rows() adds after the regular grid


def preset_rows() -> list[tuple[str, PlanRequest]]:
    rows = []
    for path in sorted((ROOT / "configs").glob("qwen*.yaml")):
        gpu = path.stem.split("_", 1)[1]
        rows.append((f"preset {path.name}", sft_plan_request(load_sft_config(path), gpu)))
    return rows


def grid_rows() -> list[tuple[str, PlanRequest]]:
    rows = []
    for model, finetune, checkpointing, seq_len, batch in itertools.product(
        (QWEN25_7B, QWEN3_4B), ("lora", "full", "qlora"), (True, False), (2048, 8192), (1, 2)
    ):
        if finetune == "qlora" and not checkpointing:
            continue
        optim = "paged_adamw_8bit" if finetune == "qlora" else "adamw_torch_fused"
        req = PlanRequest(model=model, finetune=finetune, gradient_checkpointing=checkpointing,
                          seq_len=seq_len, batch_size=batch, optim=optim)  # fmt: skip
        rows.append(
            (f"{model.name} {finetune} ckpt={'on' if checkpointing else 'off'} {batch}x{seq_len}", req)
        )
    base = PlanRequest(model=QWEN25_7B, seq_len=4096)
    rows += [
        ("Qwen2.5-7B lora 1x4096 dpo (reference: adapter off)", dataclasses.replace(base, method="dpo")),
        ("Qwen2.5-7B lora 1x4096 transformers loss (full logits)", dataclasses.replace(base, loss="full")),
        ("Qwen2.5-7B lora 1x4096 adamw_torch (foreach)", dataclasses.replace(base, optim="adamw_torch")),
        ("Qwen2.5-7B full 1x4096 accumulation 2", dataclasses.replace(base, finetune="full", gradient_accumulation_steps=2)),
        ("Qwen3-4B lora 1x4096 dropout 0", dataclasses.replace(base, model=QWEN3_4B, lora_dropout=0.0)),
        ("Qwen3-4B qlora fp16 1x4096 dropout 0", dataclasses.replace(base, model=QWEN3_4B, finetune="qlora",
                                                                     dtype="fp16", lora_dropout=0.0)),
    ]  # fmt: skip
    return rows


def measure(name: str, req: PlanRequest, depths: tuple[int, int] | None) -> dict:
    plan = plan_memory(req)
    traced = trace_extrapolated(req, depths) if depths else trace_step(req)
    error = plan.traceable / traced.peak - 1
    return {
        "config": name,
        "gpu": req.gpu,
        "planned_gib": round(plan.traceable / GiB, 3),
        "traced_gib": round(traced.peak / GiB, 3),
        "analytic_in_traced_gib": round(traced.analytic / GiB, 3),
        "error_pct": round(100 * error, 2),
        "planned_phase": plan.peak_phase,
        "traced_phase": traced.peak_phase,
        "planned_total_with_allowance_gib": round(plan.total / GiB, 3),
        "fits": plan.fits,
        "trace_s": round(traced.seconds, 1),
    }


def machine() -> dict:
    import peft
    import torch
    import transformers
    import trl

    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "gpu": "none (fake tensors on cpu; nothing ran on a GPU)",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "trl": trl.__version__,
        },  # fmt: skip
    }


def write_markdown(report: dict, path: Path) -> None:
    lines = [
        "# Memory planner vs fake-tensor trace",
        "",
        f"`{report['command']}`",
        "",
        f"Machine: {report['machine']['cpu_count']} CPU cores, load {report['machine']['load_avg_1_5_15']} at start, "
        f"{report['machine']['load_end']} at end; {report['machine']['gpu']}. {report['machine']['versions']}. "
        f"{report['machine']['date_utc']}.",
        "",
        f"Traced: {report['depth']}. Planned = the plan without the CUDA-context/fragmentation allowance. "
        "QLoRA rows: the NF4 weights and the 8-bit AdamW state are analytic in both columns (bitsandbytes "
        "cannot run on fake tensors); `analytic` is that part of the traced column (negative: NF4 weights are "
        "smaller than the bf16 ones the trace holds). Grid rows are judged on the default a100-80gb.",
        "",
        "| config | planned GiB | traced GiB | error % | analytic GiB | peak (plan / trace) | plan+allowance GiB | fits |",
        "|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['config']} | {r['planned_gib']:.2f} | {r['traced_gib']:.2f} | {r['error_pct']:+.1f} | "
            f"{r['analytic_in_traced_gib']:.2f} | {r['planned_phase']} / {r['traced_phase']} | "
            f"{r['planned_total_with_allowance_gib']:.1f} ({r['gpu']}) | {'yes' if r['fits'] else 'no'} |"
        )
    worst = max(abs(r["error_pct"]) for r in report["rows"])
    lines += [
        "",
        f"Worst error: {worst:.1f}% over {len(report['rows'])} rows (tolerance {100 * TOLERANCE:.0f}%).",
    ]
    if report["partial"]:
        lines.append(
            f"PARTIAL: the run stopped after {len(report['rows'])} of {report['rows_planned']} rows."
        )
    path.write_text("\n".join(lines) + "\n")


def save(report: dict) -> None:
    report["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "plan_trace.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown(report, RESULTS / "plan_trace.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the shipped presets only")
    parser.add_argument("--depths", help="trace these two depths (e.g. 2,4) and extend linearly per layer")
    args = parser.parse_args()
    depths = tuple(int(d) for d in args.depths.split(",")) if args.depths else None
    report = {
        "command": "PYTHONPATH=src python benchmarks/plan_trace.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "depth": f"depths {depths}, extended per layer" if depths else "the full depth of each model",
        "rows": [],
    }
    grid = [] if args.quick else grid_rows()
    # the special cases first, then the presets, then the regular grid: a cut-short run keeps the variety
    rows = grid[-SPECIAL_ROWS:] + preset_rows() + grid[:-SPECIAL_ROWS]
    for done, (name, req) in enumerate(rows, 1):
        row = measure(name, req, depths)
        report["rows"].append(row)
        print(f"{row['error_pct']:+6.1f}%  planned {row['planned_gib']:7.2f}  traced {row['traced_gib']:7.2f}  {name}",
              flush=True)  # fmt: skip
        # written after every row: an interrupted run still leaves what it measured, marked as partial
        report["rows_planned"], report["partial"] = len(rows), done < len(rows)
        save(report)
    bad = [r["config"] for r in report["rows"] if abs(r["error_pct"]) > 100 * TOLERANCE]
    print(f"{len(bad)} of {len(report['rows'])} rows off by more than {100 * TOLERANCE:.0f}%: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
