"""Differential check: our ALFWorld harness vs AgentBench v0.2's own `alfworld_run`, on simulator games.

Reads the v0.2 code from the user's own AgentBench checkout (nothing is copied into this repository), runs its
`ALFWorld.alfworld_run` with a scripted session and our simulator behind a fake TextWorld batch env, and
compares, step by step, every prompt v0.2 would send the model (its history filter applied), plus the final
status and reward, with what `AlfworldEnv` produces for the same raw outputs. The outputs mix expert turns,
random admissible actions, misspellings (BLEU snapping), repeats (the three-outputs rule) and unformatted text.

    git clone -b v0.2 https://github.com/THUDM/AgentBench ~/AgentBench
    python benchmarks/alfworld_v02_diff.py --agentbench ~/AgentBench --games 300
writes benchmarks/results/alfworld_v02_diff.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import json
import random
import sys
import types
from pathlib import Path

from agentbench_tuning.envs.alfworld import AlfworldEnv, import_agentbench_prompts, load_prompts, sim_tasks

RESULTS = Path(__file__).parent / "results"


def load_v02(root: Path):
    """Import v0.2's alfworld task module without running the package __init__ files (they import every task)."""
    sys.path.insert(0, str(root))
    for name in ("src.server.tasks", "src.server.tasks.alfworld"):
        stub = types.ModuleType(name)
        stub.__path__ = [str(root / name.replace(".", "/"))]
        sys.modules[name] = stub
    sys.modules.setdefault("jsonlines", types.ModuleType("jsonlines"))  # imported by utils.py, unused here
    # environment.py loads the real engine (and `gym`); the fake batch env below stands in for it.
    engine = types.ModuleType("src.server.tasks.alfworld.environment")
    engine.SingleAlfredTWEnv = None
    sys.modules[engine.__name__] = engine
    task = importlib.import_module("src.server.tasks.alfworld.task")
    server = importlib.import_module("src.server.task")
    typings = importlib.import_module("src.typings")
    return task, server, typings


class FakeBatchEnv:
    """Our simulator behind the batch-of-one TextWorld interface v0.2 calls."""

    def __init__(self, game):
        self.game = game

    def reset(self):
        state = self.game.reset()
        path = f"data/{self.game.task_type}-sim/seed-{self.game.task.seed}/game.tw-pddl"
        return [state.feedback], {"extra.gamefile": [path], "admissible_commands": [state.admissible]}

    def step(self, actions):
        state = self.game.step(actions[0])
        info = {"won": [state.won], "admissible_commands": [state.admissible]}
        return [state.feedback], [float(state.won)], [state.done], info


def scripted_outputs(task, rng: random.Random) -> list[str]:
    """Play our harness with a noisy policy and return the raw outputs it produced."""
    env = AlfworldEnv(prompts=load_prompts(PROMPTS_PATH))
    env.reset(task)
    expert = env.game.expert_turns()
    outputs: list[str] = []
    while not env.done:
        roll = rng.random()
        if roll < 0.45 and expert:
            out = expert.pop(0).text()
        elif roll < 0.6:
            out = f"ACTION: {rng.choice(env.admissible)}"
        elif roll < 0.7:
            out = "ACTION: " + rng.choice(env.admissible).replace(" 1", "").upper()
        elif roll < 0.77 and outputs:
            out = outputs[-1]
        elif roll < 0.79:
            out = "I am not sure what to do."
        else:  # long thoughts make v0.2's history filter drop old turns
            out = f"THOUGHT: {'think again ' * rng.randint(100, 400)}\n ACTION: {rng.choice(env.admissible)}"
        outputs.append(out)
        env.step(out)
    return outputs


def run_ours(task, outputs):
    env = AlfworldEnv(prompts=load_prompts(PROMPTS_PATH))
    env.reset(task)
    sent = []
    for out in outputs:
        sent.append(env.messages)
        result = env.step(out)
        if result.done:
            return sent, result.info["status"], result.info["reward"]
    raise AssertionError("our episode did not end on the recorded outputs")


def run_theirs(v02, task, outputs):
    task_mod, server, typings = v02
    sent = []
    queue = list(outputs)

    class ScriptedSession(server.Session):
        async def action(self, *injection):
            self.inject(list(injection))
            sent.append(
                [
                    {"role": "assistant" if m.role == "agent" else m.role, "content": m.content}
                    for m in self.filter_messages(self.history)
                ]
            )
            content = queue.pop(0)
            self.history.append(typings.ChatHistoryItem(role="agent", content=content))
            return typings.AgentOutput(content=content)

    alf = task_mod.ALFWorld.__new__(task_mod.ALFWorld)
    alf.prompts = load_prompts(PROMPTS_PATH).examples
    alf.max_step = 35
    alf.prefixes = {
        "pick_and_place": "put",
        "pick_clean_then_place": "clean",
        "pick_heat_then_place": "heat",
        "pick_cool_then_place": "cool",
        "look_at_obj": "examine",
        "pick_two_obj": "puttwo",
    }
    with contextlib.redirect_stdout(io.StringIO()):  # v0.2 prints progress lines
        reward, _, status = asyncio.run(alf.alfworld_run(ScriptedSession(), FakeBatchEnv(task.load())))
    return sent, str(status.value), float(reward)


def main() -> None:
    global PROMPTS_PATH
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--agentbench", required=True, help="root of an AgentBench checkout on the v0.2 branch"
    )
    parser.add_argument("--games", type=int, default=300)
    parser.add_argument("--out-prompts", default="/tmp/abtune-v02-prompts")
    args = parser.parse_args()
    root = Path(args.agentbench).expanduser()
    PROMPTS_PATH = import_agentbench_prompts(root, args.out_prompts)
    v02 = load_v02(root)
    rng = random.Random(0)
    mismatches, statuses, prompts, filtered = [], {}, 0, 0
    for task in sim_tasks(args.games, seed=7):
        outputs = scripted_outputs(task, rng)
        ours, theirs = run_ours(task, outputs), run_theirs(v02, task, outputs)
        statuses[ours[1]] = statuses.get(ours[1], 0) + 1
        prompts += len(ours[0])
        filtered += sum("[NOTICE]" in sent[0]["content"] for sent in ours[0])
        if ours != theirs:
            mismatches.append(
                {
                    "index": task.index,
                    "ours": ours[1:],
                    "theirs": theirs[1:],
                    "prompts_equal": ours[0] == theirs[0],
                }
            )
    result = {
        "command": f"python benchmarks/alfworld_v02_diff.py --agentbench DIR --games {args.games}",
        "games": args.games,
        "prompts_compared": prompts,
        "prompts_with_history_filter_notice": filtered,
        "mismatches": len(mismatches),
        "statuses": statuses,
        "examples": mismatches[:5],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "alfworld_v02_diff.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


PROMPTS_PATH: Path = Path()

if __name__ == "__main__":
    main()
