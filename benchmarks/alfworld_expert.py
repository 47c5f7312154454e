"""Expert success and steps on generated simulator games, plus generator throughput.

    python benchmarks/alfworld_expert.py --games 1200 --seed 0
writes benchmarks/results/alfworld_expert.json and .md (success and steps per task type).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import defaultdict
from pathlib import Path

from agentbench_tuning.envs.alfworld import AlfworldEnv, ExpertAgent, generate_world, sim_tasks
from agentbench_tuning.envs.base import EpisodeSpec
from agentbench_tuning.rollout.scripted import play_scripted

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--games", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tasks = sim_tasks(args.games, seed=args.seed)

    start = time.perf_counter()
    for task in tasks:
        generate_world(task.seed, task.config)
    gen_s = time.perf_counter() - start

    by_type: dict[str, list[dict]] = defaultdict(list)
    start = time.perf_counter()
    specs = [EpisodeSpec(t.index, t, t.task_type) for t in tasks]
    for record in play_scripted(ExpertAgent, AlfworldEnv, specs, names=("alfworld-sim", "expert")):
        by_type[record["type"]].append({"won": record["success"], "steps": record["info"]["steps"]})
    episodes_s = time.perf_counter() - start

    rows = {
        t: {
            "games": len(rs),
            "won": sum(r["won"] for r in rs),
            "success": sum(r["won"] for r in rs) / len(rs),
            "mean_steps": statistics.mean(r["steps"] for r in rs),
            "max_steps": max(r["steps"] for r in rs),
        }
        for t, rs in sorted(by_type.items())
    }
    everything = [r for rs in by_type.values() for r in rs]
    result = {
        "command": f"python benchmarks/alfworld_expert.py --games {args.games} --seed {args.seed}",
        "machine": platform.platform(),
        "python": platform.python_version(),
        "games": len(everything),
        "success": sum(r["won"] for r in everything) / len(everything),
        "mean_steps": statistics.mean(r["steps"] for r in everything),
        "generator_games_per_s": len(tasks) / gen_s,
        "expert_episodes_per_s_with_harness": len(tasks) / episodes_s,
        "per_task_type": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alfworld_expert.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# ALFWorld simulator expert\n\n`{result['command']}` on {result['machine']}\n",
        f"- games: {result['games']}, expert success: {result['success']:.3f}, mean steps {result['mean_steps']:.2f}",
        f"- generator: {result['generator_games_per_s']:.0f} games/s; expert episodes through the harness: "
        f"{result['expert_episodes_per_s_with_harness']:.0f}/s\n",
        "| task type | games | won | success | mean steps | max steps |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {t} | {r['games']} | {r['won']} | {r['success']:.3f} | {r['mean_steps']:.2f} | {r['max_steps']} |"
        for t, r in rows.items()
    ]
    (RESULTS / "alfworld_expert.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
