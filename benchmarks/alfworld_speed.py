"""Steps per second: our simulator vs the real ALFWorld engine, raw and through the v0.2 harness.

Both play random admissible commands (so both pay for the admissible-command list every step) on one core.
The engine plays our own test game (testgames/); the simulator plays generated games.

    python benchmarks/alfworld_speed.py --steps 2000
writes benchmarks/results/alfworld_speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from pathlib import Path

from agentbench_tuning.envs.alfworld import (
    AlfworldEnv,
    build_test_game,
    engine_missing,
    game_dir_tasks,
    sim_tasks,
)

RESULTS = Path(__file__).parent / "results"


def raw_steps_per_s(tasks, steps: int, rng: random.Random) -> float:
    """Game backend alone: reset, then random admissible commands, new game every 30 steps."""
    done, start, i = 0, time.perf_counter(), 0
    while done < steps:
        game = tasks[i % len(tasks)].load()
        state = game.reset()
        for _ in range(30):
            state = game.step(rng.choice(state.admissible))
            done += 1
        i += 1
    return done / (time.perf_counter() - start)


def harness_steps_per_s(tasks, steps: int, rng: random.Random) -> float:
    """Through AlfworldEnv: outputs are `ACTION: <random admissible>` (no BLEU work), episodes of <= 30 steps."""
    env = AlfworldEnv(max_steps=30)
    done, start, i = 0, time.perf_counter(), 0
    while done < steps:
        env.reset(tasks[i % len(tasks)])
        while not env.done:
            env.step(f"THOUGHT: step {done}.\n ACTION: {rng.choice(env.admissible)}")
            done += 1
            _ = env.messages
        i += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--engine-steps", type=int, default=300)
    args = parser.parse_args()
    sims = sim_tasks(60, seed=3)
    result = {
        "command": f"python benchmarks/alfworld_speed.py --steps {args.steps} --engine-steps {args.engine_steps}",
        "machine": platform.platform(),
        "python": platform.python_version(),
        "sim_raw_steps_per_s": raw_steps_per_s(sims, args.steps, random.Random(0)),
        "sim_harness_steps_per_s": harness_steps_per_s(sims, args.steps, random.Random(0)),
    }
    reason = engine_missing()
    if reason is None:
        with tempfile.TemporaryDirectory() as root:
            build_test_game(root)
            tw = game_dir_tasks(root)
            result["engine_raw_steps_per_s"] = raw_steps_per_s(tw, args.engine_steps, random.Random(0))
            result["engine_harness_steps_per_s"] = harness_steps_per_s(
                tw, args.engine_steps, random.Random(0)
            )
    else:
        result["engine_skipped"] = reason
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alfworld_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# ALFWorld steps per second\n\n`{result['command']}` on {result['machine']}\n",
        "| backend | raw game steps/s | through the v0.2 harness steps/s |",
        "|---|---|---|",
        f"| simulator | {result['sim_raw_steps_per_s']:.0f} | {result['sim_harness_steps_per_s']:.0f} |",
    ]
    if reason is None:
        lines.append(
            f"| TextWorld engine (our test game) | {result['engine_raw_steps_per_s']:.1f} | "
            f"{result['engine_harness_steps_per_s']:.1f} |"
        )
    (RESULTS / "alfworld_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
