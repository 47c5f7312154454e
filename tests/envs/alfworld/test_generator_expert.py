"""Generated games are seeded and respect their knobs; the expert wins them all and writes v0.2-format turns."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from agentbench_tuning.envs.alfworld.expert import ExpertTurn, plan
from agentbench_tuning.envs.alfworld.generator import WorldConfig, generate_world, task_type_for
from agentbench_tuning.envs.alfworld.sim import sim_tasks
from agentbench_tuning.envs.alfworld.world import TASK_TYPES


def test_same_seed_same_game():
    assert generate_world(5).intro() == generate_world(5).intro()
    assert generate_world(5).intro() != generate_world(6).intro()


def test_knobs():
    w = generate_world(
        3,
        WorldConfig(
            task_type=TASK_TYPES[0], min_receptacles=6, max_receptacles=6, distractors=0, hidden_prob=1.0
        ),
    )
    assert len(w.receptacles) == 6
    assert len(w.items) in (1, 2)  # only the goal object(s)
    for name in w.items:  # hidden_prob=1: every object starts inside a closed receptacle when one exists
        assert w.receptacles[w.where(name)].openable
    with pytest.raises(ValueError, match="task_type"):
        WorldConfig(task_type="juggle").validate()


def test_no_game_starts_won():
    assert not any(generate_world(s, WorldConfig(task_type=task_type_for(s))).won() for s in range(300))


def test_task_types_round_robin():
    assert Counter(t.config.task_type for t in sim_tasks(60)) == {t: 10 for t in TASK_TYPES}


def test_expert_wins_every_game_of_every_type():
    # 240 games (40 per type); the full >= 600 count is benchmarks/alfworld_expert.py.
    steps = []
    for task in sim_tasks(240, seed=11):
        world = generate_world(task.seed, task.config)
        turns = plan(world, random.Random(task.seed))
        for turn in turns:
            assert turn.action in world.admissible_commands()
            world.step(turn.action)
        assert world.won(), task
        steps.append(len(turns))
    assert max(steps) < 35


def test_turn_text_format():
    assert ExpertTurn("go to fridge 1", "Find it.").text() == "THOUGHT: Find it.\n ACTION: go to fridge 1"
    assert ExpertTurn("open fridge 1").text() == "ACTION: open fridge 1"
