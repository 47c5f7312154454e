"""A hand-built kitchen whose every text form the tests below spell out."""

from __future__ import annotations

import pytest

from agentbench_tuning.envs.alfworld.world import HEAT, Goal, Item, Receptacle, World


def make_kitchen() -> World:
    receptacles = {
        "cabinet 1": Receptacle("cabinet 1", "cabinet", loc=7, openable=True, contents=["mug 1"]),
        "cabinet 2": Receptacle("cabinet 2", "cabinet", loc=3, openable=True),
        "countertop 1": Receptacle(
            "countertop 1", "countertop", loc=5, openable=False, contents=["apple 2", "apple 1", "bread 1"]
        ),
        "microwave 1": Receptacle("microwave 1", "microwave", loc=9, openable=True),
        "fridge 1": Receptacle("fridge 1", "fridge", loc=2, openable=True),
        "sinkbasin 1": Receptacle("sinkbasin 1", "sinkbasin", loc=4, openable=False),
        "sidetable 1": Receptacle("sidetable 1", "sidetable", loc=6, openable=False, contents=["desklamp 1"]),
    }
    items = {
        "apple 1": Item("apple 1", "apple", cleanable=True, heatable=True, coolable=True),
        "apple 2": Item("apple 2", "apple", cleanable=True, heatable=True, coolable=True),
        "bread 1": Item("bread 1", "bread", heatable=True, coolable=True),
        "mug 1": Item("mug 1", "mug", cleanable=True, heatable=True, coolable=True),
        "desklamp 1": Item("desklamp 1", "desklamp", lamp=True),
    }
    goal = Goal(HEAT, "apple", "fridge", "put a hot apple in fridge.")
    return World(receptacles=receptacles, items=items, goal=goal)


@pytest.fixture
def kitchen() -> World:
    return make_kitchen()
