"""Simulator vs real engine on many generated games (exported to PDDL), with random commands mixed in.

    python benchmarks/alfworld_engine_parity.py --games 120
writes benchmarks/results/alfworld_engine_parity.json: games and steps compared, differences by kind.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections import Counter
from pathlib import Path

from agentbench_tuning.envs.alfworld import engine_missing, generate_world, sim_tasks
from agentbench_tuning.envs.alfworld.parity import compare, script

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--games", type=int, default=120)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    if engine_missing():
        raise SystemExit(engine_missing())
    kinds, steps, examples = Counter(), 0, []
    for task in sim_tasks(args.games, seed=args.seed):
        world = generate_world(task.seed, task.config)
        steps += len(script(world, random.Random(task.seed)))
        with tempfile.TemporaryDirectory() as tmp:
            diffs = compare(world, random.Random(task.seed), tmp)
        kinds.update(d.what for d in diffs)
        examples += [{"index": task.index, **d.__dict__} for d in diffs[:1]][: max(0, 5 - len(examples))]
    result = {
        "command": f"python benchmarks/alfworld_engine_parity.py --games {args.games} --seed {args.seed}",
        "games": args.games,
        "steps_compared": steps,
        "differences": dict(kinds),
        "examples": examples,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alfworld_engine_parity.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
