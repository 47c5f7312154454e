"""Simulator backend for the harness: a generated `World` behind the `Game` interface, plus its task spec.

task = SimTask(index=0, seed=0)          # task type by index (round-robin), world by seed
game = task.load()
state = game.reset()
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agentbench_tuning.envs.alfworld.expert import ExpertTurn, plan
from agentbench_tuning.envs.alfworld.generator import WorldConfig, generate_world, task_type_for
from agentbench_tuning.envs.alfworld.harness import GameState
from agentbench_tuning.envs.alfworld.world import World, goal_progress, goal_size


@dataclass(frozen=True)
class SimTask:
    index: int
    seed: int
    config: WorldConfig = field(default_factory=WorldConfig)

    def load(self) -> SimGame:
        return SimGame(self)

    @property
    def task_type(self) -> str:
        return self.config.task_type or generate_world(self.seed, self.config).goal.task_type


def sim_tasks(n_games: int, seed: int = 0, config: WorldConfig = WorldConfig()) -> list[SimTask]:
    """`n_games` tasks in generation order; task types round-robin unless `config.task_type` fixes one."""
    tasks = []
    for i in range(n_games):
        cfg = config if config.task_type else WorldConfig(**{**config.__dict__, "task_type": task_type_for(i)})
        tasks.append(SimTask(index=i, seed=seed * 1_000_003 + i, config=cfg))
    return tasks


class SimGame:
    def __init__(self, task: SimTask):
        self.task = task
        self.world: World | None = None

    @property
    def name(self) -> str:
        return f"sim/{self.task_type}/seed-{self.task.seed}"

    @property
    def task_type(self) -> str:
        return self.task.task_type

    def reset(self) -> GameState:
        self.world = generate_world(self.task.seed, self.task.config)
        return GameState(self.world.intro(), self.world.admissible_commands(), won=False, done=False)

    def step(self, command: str) -> GameState:
        feedback = self.world.step(command)
        won = self.world.won()
        return GameState(feedback, self.world.admissible_commands(), won=won, done=won)

    def expert_turns(self) -> list[ExpertTurn]:
        """The expert's plan from the current state (call right after reset for a full episode)."""
        return plan(self.world, random.Random(self.task.seed))

    def close(self) -> None:
        pass  # nothing held outside Python objects

    def progress(self) -> float:
        """Fraction of the goal's sub-goals that hold now, for shaped rewards."""
        return goal_progress(self.world) / goal_size(self.world.goal)
