"""A trial runner with planted outcomes (no training): records in the one format, scores known by design.

`PlantedRunner(rates)` gives a trial the success rate `rates[split][choice]` for its `x=...` parameter; item i
of seed s succeeds when a fixed pseudo-random draw falls below the rate. `calls` logs every run.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from agentbench_tuning.eval.report import synthetic_record
from agentbench_tuning.experiments.trials import TrialOutcome
from agentbench_tuning.records import RecordWriter

N_ITEMS = 20


class PlantedRunner:
    def __init__(self, rates: dict[str, dict[str, float]], delay_s: float = 0.0, log: Path | None = None):
        self.rates, self.delay_s, self.log = rates, delay_s, log
        self.calls: list[tuple[str, int, str]] = []

    def run(self, overrides, seed, split, out_dir, report=None) -> TrialOutcome:
        choice = [json.loads(o.split("=", 1)[1]) for o in overrides if o.startswith("x=")][-1]  # later wins
        self.calls.append((choice, seed, split))
        if self.log:
            with self.log.open("a") as fh:
                fh.write(json.dumps([choice, seed, split]) + "\n")
        time.sleep(self.delay_s)
        rate = self.rates[split][choice]
        run_dir = Path(out_dir) / "alfworld-sim"
        rng = random.Random(f"{seed}-{split}")  # the same draws for every choice: differences are the rates'
        with RecordWriter(run_dir / "records.jsonl") as writer:
            for i in range(N_ITEMS):
                ok = rng.random() < rate
                if not writer.done(i, 0):
                    writer.append(synthetic_record(i, 0, "put", ok, "completed" if ok else "task limit reached"))
        from agentbench_tuning.records import latest_records

        records = latest_records(run_dir / "records.jsonl")
        score = sum(r["success"] for r in records) / len(records)
        return TrialOutcome({"alfworld-sim": score, "tokens:alfworld-sim": 10.0}, {"alfworld-sim": run_dir})


def main(config_path: str, log: str) -> None:
    """Worker for the kill-and-resume test: run the sweep slowly."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.experiments.settings import SweepRunConfig
    from agentbench_tuning.experiments.sweep import run_sweep

    # 3 s a trial (was 1 s, which failed once with 4 other jobs on 2 cores): the test must see 2 or 3 of the 4
    # trials complete between two of its polls of the study, and a poll (optuna load_study) slows under load
    run_sweep(load_config(config_path, SweepRunConfig), PlantedRunner(RATES, delay_s=3.0, log=Path(log)))


RATES = {"validation": {"a": 0.5, "b": 0.6, "c": 0.4, "d": 0.9}, "test": {"a": 0.5, "b": 0.8, "c": 0.4, "d": 0.3}}

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
