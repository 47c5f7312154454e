"""Play one simulator game and its PDDL export on the real engine side by side; report every difference.

The installed engine speaks ALFWorld's newer wording; `to_2_1_1` maps it to the 2.1.1 forms our simulator
speaks (`move X to Y` -> `put X in/on Y`, `You arrive at cabinet 1. ` dropped like the harness drops
`You arrive at loc N. `, `cold` -> `cool`, no `help` command), so what remains are real differences.

    diffs = compare(generate_world(3), random.Random(3), tmp_dir)   # [] when the two agree
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from agentbench_tuning.envs.alfworld.expert import plan
from agentbench_tuning.envs.alfworld.pddl_export import write_game
from agentbench_tuning.envs.alfworld.protocol import step_observation
from agentbench_tuning.envs.alfworld.world import World

_MOVE = re.compile(r"^move (.+) to (.+)$")


@dataclass
class Difference:
    step: int
    command: str
    what: str  # "feedback" | "admissible" | "won"
    sim: object
    engine: object


def to_2_1_1(feedback: str) -> str:
    feedback = re.sub(r"^You arrive at [^.]+\. ", "", feedback)
    feedback = re.sub(r"^You move the (.+) to the (.+)\.$", r"You put the \1 in/on the \2.", feedback)
    return feedback.replace("This is a cold ", "This is a cool ")


def commands_to_2_1_1(admissible: list[str]) -> list[str]:
    return sorted(_MOVE.sub(r"put \1 in/on \2", c) for c in admissible if c != "help")


def to_engine(command: str) -> str:
    match = re.match(r"^put (.+) in/on (.+)$", command)
    return f"move {match[1]} to {match[2]}" if match else command


def script(world: World, rng: random.Random, noise: float = 0.3) -> list[str]:
    """The expert's plan with random admissible and inadmissible commands mixed in (played on a copy)."""
    probe = world.clone()
    commands = []
    for turn in plan(world, rng):
        while rng.random() < noise:
            extra = rng.choice(probe.admissible_commands() + ["open the door", "take all"])
            if extra.startswith(("take ", "put ")):  # keep the expert's plan executable
                continue
            commands.append(extra)
            probe.step(extra)
        commands.append(turn.action)
        probe.step(turn.action)
    return commands


def compare(world: World, rng: random.Random, tmp_dir: str | Path) -> list[Difference]:
    from agentbench_tuning.envs.alfworld.textworld_game import TextWorldGame

    commands = script(world, rng)
    game = TextWorldGame(str(write_game(world, tmp_dir)))
    sim = world.clone()
    diffs = []
    state = game.reset()
    if state.feedback != sim.intro():
        diffs.append(Difference(0, "(reset)", "feedback", sim.intro(), state.feedback))
    for step, command in enumerate(commands, 1):
        if commands_to_2_1_1(state.admissible) != sim.admissible_commands():
            diffs.append(Difference(step, command, "admissible", sim.admissible_commands(), state.admissible))
        sim_feedback = step_observation(sim.step(command))
        state = game.step(to_engine(command))
        if to_2_1_1(state.feedback) != sim_feedback:
            diffs.append(Difference(step, command, "feedback", sim_feedback, state.feedback))
        if state.won != sim.won():
            diffs.append(Difference(step, command, "won", sim.won(), state.won))
    game.close()
    return diffs
