"""An expert for simulator games: plans from the full state, explores like a person would, writes THOUGHTs.

The plan is built once from the initial state (the simulator is deterministic): for every object the goal
needs, visit 0-2 plausible but wrong receptacles first (opening closed ones), then the right one; take the
object; clean/heat/cool it or switch on the lamp; carry it to the goal receptacle. Every turn is a `ExpertTurn`
with an optional thought, rendered in the v0.2 format by `ExpertTurn.text()`.

    world = generate_world(seed=1)
    turns = plan(world, random.Random(1))
    for turn in turns:
        world.step(turn.action)
    assert world.won()
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agentbench_tuning.envs.alfworld.world import CLEAN, COOL, HEAT, LOOK, TWO, Receptacle, World, accepts

APPLIANCE = {CLEAN: ("sinkbasin", "clean"), HEAT: ("microwave", "heat"), COOL: ("fridge", "cool")}
DONE_WORD = {"clean": "clean", "heat": "hot", "cool": "cool"}
# Chance of visiting 0, 1 or 2 wrong receptacles before the right one, per object searched.
DECOY_WEIGHTS = (0.5, 0.3, 0.2)
# Phrasings of each thought, picked at random so SFT data does not repeat one template.
THOUGHTS = {
    "search": (
        "{head}First I need to find a {obj}. A {obj} is likely in a {guess}. I will start with {first}.",
        "{head}I need a {obj} first. It could be in a {guess}. Let me check {first}.",
        "{head}To begin, I have to locate a {obj}; the {guess} are good places to look. I will go to {first}.",
    ),
    "not_here": (
        "There is no {obj} in {prev}. Next I will check {next}.",
        "No {obj} in {prev}. Let me try {next}.",
        "The {obj} is not in {prev}, so I will look in {next}.",
    ),
    "found": ("I found {name} in {home}. I will take it.", "There is {name} here. I will pick it up."),
    "treat": (
        "Now I have {name}. Next I need to {verb} it with {appliance}.",
        "I am holding {name}. I should {verb} it, so I will go to {appliance}.",
    ),
    "place_treated": (
        "The {name} is {word} now. Next I will put it in/on {target}.",
        "Done, the {name} is {word}. Now I take it to {target}.",
    ),
    "place": (
        "Now I have {name}. Next I will put it in/on {target}.",
        "I have {name}; now I go to {target} to put it there.",
    ),
    "lamp_go": (
        "Now I have {name}. Next I need to find a {lamp}; it should be on a desk or sidetable.",
        "With {name} in hand, I need a {lamp}. Those usually stand on a desk or sidetable.",
    ),
    "lamp_use": (
        "There is {lamp_name} here. I will turn it on to look at {name} under it.",
        "I see {lamp_name}. I will use it.",
    ),
    "second": (
        "Now I have the second {obj}. I will put it in/on {target} too.",
        "This is the second {obj}. I will bring it to {target} as well.",
    ),
}


@dataclass(frozen=True)
class ExpertTurn:
    action: str
    thought: str | None = None

    def text(self) -> str:
        """The model output in the v0.2 format the instruction asks for."""
        if self.thought:
            return f"THOUGHT: {self.thought}\n ACTION: {self.action}"
        return f"ACTION: {self.action}"


class _Planner:
    def __init__(self, world: World, rng: random.Random):
        self.world = world.clone()  # simulate on a copy so every planned command is checked admissible
        self.rng = rng
        self.turns: list[ExpertTurn] = []
        self.pending: str | None = None  # a thought whose "go to" was skipped rides on the next action

    def say(self, key: str, **fields: str) -> str:
        return self.rng.choice(THOUGHTS[key]).format(**fields)

    def do(self, action: str, thought: str | None = None) -> None:
        if action not in self.world.admissible_commands():
            raise AssertionError(f"expert planned an inadmissible command {action!r}")
        self.turns.append(ExpertTurn(action=action, thought=thought or self.pending))
        self.pending = None
        self.world.step(action)

    def go(self, r: Receptacle, thought: str | None = None) -> None:
        if self.world.location == r.name:  # already here: "go to" is not even admissible
            self.pending = thought
        else:
            self.do(f"go to {r.name}", thought)

    def reach(self, r: Receptacle, thought: str | None = None) -> None:
        """Walk to `r` and make its contents visible."""
        self.go(r, thought)
        if r.openable and not r.opened:
            self.do(f"open {r.name}")

    def fetch(self, obj_cls: str, first: bool, exclude: set[str]) -> str:
        """Find and pick up an object of `obj_cls` (not one in `exclude`); returns its name."""
        w = self.world
        name = min(
            (n for n, i in w.items.items() if i.cls == obj_cls and n not in exclude and n != w.held),
            key=lambda n: (w.where(n) is None, n),
        )
        home = w.receptacles[w.where(name)]
        decoys = self._decoys(obj_cls, home)
        route = decoys + [home]
        head = f"The task is to {w.goal.text[:-1]}. " if first else ""
        guess = self._guess(obj_cls, route)
        self.reach(route[0], self.say("search", head=head, obj=obj_cls, guess=guess, first=route[0].name))
        for prev, r in zip(route, route[1:], strict=False):
            self.reach(r, self.say("not_here", obj=obj_cls, prev=prev.name, next=r.name))
        self.do(f"take {name} from {home.name}", self.say("found", name=name, home=home.name))
        return name

    def _guess(self, obj_cls: str, route: list[Receptacle]) -> str:
        """Up to three plausible receptacle classes, the first one visited first (so the thought is honest
        about the plan without revealing where the object is)."""
        others = sorted(
            {r.cls for r in self.world.receptacles.values() if accepts(r.cls, obj_cls)}
            - {"microwave", "fridge", "sinkbasin", "garbagecan", self.world.goal.target_cls}
        )
        self.rng.shuffle(others)
        classes = list(dict.fromkeys([route[0].cls] + [r.cls for r in route[1:]] + others))[:3]
        return classes[0] if len(classes) == 1 else ", ".join(classes[:-1]) + " or " + classes[-1]

    def _decoys(self, obj_cls: str, home: Receptacle) -> list[Receptacle]:
        w = self.world
        plausible = [
            r
            for r in w.receptacles.values()
            if r is not home
            and accepts(r.cls, obj_cls)
            and r.cls not in ("microwave", "fridge", "sinkbasin", "garbagecan", w.goal.target_cls)
            and not any(w.items[n].cls == obj_cls for n in r.contents)
        ]
        k = self.rng.choices(range(len(DECOY_WEIGHTS)), weights=DECOY_WEIGHTS)[0]
        return self.rng.sample(plausible, min(k, len(plausible)))

    def treat(self, name: str) -> None:
        appliance, verb = APPLIANCE[self.world.goal.task_type]
        r = self._first(appliance)
        self.go(r, self.say("treat", name=name, verb=verb, appliance=r.name))
        self.do(f"{verb} {name} with {r.name}")

    def place(self, name: str, target: Receptacle, thought: str) -> None:
        self.reach(target, thought)
        self.do(f"put {name} in/on {target.name}")

    def _first(self, cls: str) -> Receptacle:
        return min((r for r in self.world.receptacles.values() if r.cls == cls), key=lambda r: r.name)


def plan(world: World, rng: random.Random) -> list[ExpertTurn]:
    """The expert's turns for `world` from its current state; the last one wins the game."""
    p = _Planner(world, rng)
    goal = p.world.goal
    name = p.fetch(goal.obj_cls, first=True, exclude=set())
    if goal.task_type == LOOK:
        lamp = next(n for n, i in p.world.items.items() if i.cls == goal.target_cls)
        host = p.world.receptacles[p.world.where(lamp)]
        p.go(host, p.say("lamp_go", name=name, lamp=goal.target_cls))
        p.do(f"use {lamp}", p.say("lamp_use", lamp_name=lamp, name=name))
    else:
        target = p._first(goal.target_cls)
        if goal.task_type in APPLIANCE:
            p.treat(name)
            word = DONE_WORD[APPLIANCE[goal.task_type][1]]
            p.place(name, target, p.say("place_treated", name=name, word=word, target=target.name))
        else:
            p.place(name, target, p.say("place", name=name, target=target.name))
        if goal.task_type == TWO:
            second = p.fetch(goal.obj_cls, first=False, exclude={name})
            p.place(second, target, p.say("second", obj=goal.obj_cls, target=target.name))
    if not p.world.won():
        raise AssertionError(f"expert plan did not win: goal {goal.text!r}")
    return p.turns
