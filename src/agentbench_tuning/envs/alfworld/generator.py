"""Procedural household games for the simulator: rooms, receptacles, objects and one of six goals.

Everything is drawn from `random.Random(seed)`, so a seed names a game. Difficulty knobs live in
`WorldConfig`: how many receptacles, how many distractor objects, and how often objects start hidden inside
closed receptacles.

    world = generate_world(seed=7, config=WorldConfig(task_type="pick_heat_then_place_in_recep"))
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

from agentbench_tuning.config import SimWorld
from agentbench_tuning.envs.alfworld.world import (
    CLEAN,
    COOL,
    HEAT,
    LOOK,
    PICK,
    TASK_TYPES,
    TWO,
    Goal,
    Item,
    Receptacle,
    World,
    accepts,
)

# Receptacle classes per room: (class, openable, how many at most).
ROOMS = {
    "kitchen": [
        ("cabinet", True, 9),
        ("drawer", True, 5),
        ("countertop", False, 3),
        ("diningtable", False, 1),
        ("fridge", True, 1),
        ("microwave", True, 1),
        ("sinkbasin", False, 1),
        ("stoveburner", False, 4),
        ("garbagecan", False, 1),
        ("coffeemachine", False, 1),
        ("toaster", False, 1),
        ("shelf", False, 3),
    ],
    "bathroom": [
        ("cabinet", True, 4),
        ("countertop", False, 1),
        ("sinkbasin", False, 2),
        ("bathtubbasin", False, 1),
        ("toilet", False, 1),
        ("towelholder", False, 1),
        ("handtowelholder", False, 2),
        ("toiletpaperhanger", False, 1),
        ("garbagecan", False, 1),
        ("drawer", True, 3),
        ("shelf", False, 2),
    ],
    "bedroom": [
        ("bed", False, 1),
        ("desk", False, 2),
        ("drawer", True, 6),
        ("dresser", False, 1),
        ("shelf", False, 4),
        ("sidetable", False, 2),
        ("garbagecan", False, 1),
        ("laundryhamper", False, 1),
        ("safe", True, 1),
    ],
    "livingroom": [
        ("sofa", False, 1),
        ("armchair", False, 2),
        ("coffeetable", False, 1),
        ("sidetable", False, 2),
        ("drawer", True, 4),
        ("cabinet", True, 4),
        ("shelf", False, 5),
        ("garbagecan", False, 1),
        ("tvstand", False, 1),
        ("dresser", False, 1),
    ],
}
# Receptacles every room of that kind has (the appliances the tasks need).
REQUIRED = {
    "kitchen": ("fridge", "microwave", "sinkbasin", "countertop", "cabinet"),
    "bathroom": ("sinkbasin", "countertop", "toilet"),
    "bedroom": ("desk", "sidetable", "bed"),
    "livingroom": ("sidetable", "sofa", "coffeetable"),
}
# Object classes per room, with properties: c = cleanable, h = heatable, k = coolable.
OBJECTS = {
    "kitchen": {
        "apple": "chk",
        "bread": "hk",
        "egg": "chk",
        "lettuce": "ck",
        "potato": "chk",
        "tomato": "chk",
        "bowl": "chk",
        "cup": "chk",
        "mug": "chk",
        "plate": "chk",
        "pan": "ck",
        "pot": "ck",
        "fork": "c",
        "knife": "c",
        "spoon": "c",
        "spatula": "c",
        "ladle": "c",
        "butterknife": "c",
        "saltshaker": "",
        "peppershaker": "",
        "winebottle": "k",
        "dishsponge": "c",
        "kettle": "c",
    },
    "bathroom": {
        "soapbar": "c",
        "cloth": "c",
        "spraybottle": "",
        "toiletpaper": "",
        "candle": "",
        "soapbottle": "",
        "tissuebox": "",
        "handtowel": "",
        "plunger": "",
        "scrubbrush": "",
    },
    "bedroom": {
        "book": "",
        "cellphone": "",
        "pen": "",
        "pencil": "",
        "keychain": "",
        "creditcard": "",
        "cd": "",
        "alarmclock": "",
        "pillow": "",
        "laptop": "",
        "mug": "chk",
        "bowl": "chk",
        "watch": "",
    },
    "livingroom": {
        "remotecontrol": "",
        "newspaper": "",
        "keychain": "",
        "statue": "",
        "vase": "",
        "box": "",
        "creditcard": "",
        "watch": "",
        "laptop": "",
        "pillow": "",
        "plate": "chk",
        "bowl": "chk",
    },
}
LAMP = "desklamp"
LAMP_HOSTS = ("desk", "sidetable", "dresser")
# Which rooms can pose which task (the appliance it needs must exist there).
TASK_ROOMS = {
    PICK: tuple(ROOMS),
    LOOK: ("bedroom", "livingroom"),
    CLEAN: ("kitchen", "bathroom"),
    HEAT: ("kitchen",),
    COOL: ("kitchen",),
    TWO: tuple(ROOMS),
}
TASK_PROPERTY = {CLEAN: "c", HEAT: "h", COOL: "k"}
# Two phrasings per task type, as ALFWorld's templated goals word them.
GOAL_TEMPLATES = {
    PICK: ("put a {o} in {r}.", "put some {o} on {r}."),
    LOOK: ("look at {o} under the {r}.", "examine the {o} with the {r}."),
    CLEAN: ("put a clean {o} in {r}.", "clean some {o} and put it in {r}."),
    HEAT: ("put a hot {o} in {r}.", "heat some {o} and put it in {r}."),
    COOL: ("put a cool {o} in {r}.", "cool some {o} and put it in {r}."),
    TWO: ("put two {o} in {r}.", "find two {o} and put them in {r}."),
}


@dataclass(frozen=True)
class WorldConfig(SimWorld):
    """A world's generation settings: the config's `SimWorld` knobs (receptacles, distractors, hidden objects;
    checked when built) plus the task type."""

    task_type: str | None = None  # None: drawn uniformly from the six

    @classmethod
    def of(cls, world: SimWorld, task_type: str | None = None) -> WorldConfig:
        return cls(**{f.name: getattr(world, f.name) for f in fields(SimWorld)}, task_type=task_type)

    def validate(self) -> None:
        if self.task_type is not None and self.task_type not in TASK_TYPES:
            raise ValueError(f"WorldConfig.task_type={self.task_type!r}: use one of {', '.join(TASK_TYPES)}")


def task_type_for(index: int) -> str:
    """Round-robin task types, so N games cover all six evenly."""
    return TASK_TYPES[index % len(TASK_TYPES)]


def generate_world(seed: int, config: WorldConfig = WorldConfig()) -> World:
    config.validate()
    rng = random.Random(seed)
    task_type = config.task_type or rng.choice(TASK_TYPES)
    room = rng.choice(TASK_ROOMS[task_type])
    receptacles = _make_receptacles(rng, room, config)
    items: dict[str, Item] = {}
    goal = _make_goal(rng, room, task_type, receptacles)
    _place_goal_objects(rng, room, goal, receptacles, items, config)
    for _ in range(config.distractors):
        cls = rng.choice(sorted(OBJECTS[room]))
        _place(rng, _new_item(items, cls, OBJECTS[room][cls]), receptacles, config, avoid=goal.target_cls)
    return World(receptacles=receptacles, items=items, goal=goal)


def _make_receptacles(rng: random.Random, room: str, config: WorldConfig) -> dict[str, Receptacle]:
    target = rng.randint(config.min_receptacles, config.max_receptacles)
    counts = {cls: 1 for cls in REQUIRED[room]}
    spec = {cls: (openable, most) for cls, openable, most in ROOMS[room]}
    pool = [cls for cls, _, _ in ROOMS[room]]
    for _ in range(200):
        if sum(counts.values()) >= target:
            break
        cls = rng.choice(pool)
        if counts.get(cls, 0) < spec[cls][1]:
            counts[cls] = counts.get(cls, 0) + 1
    names = [f"{cls} {i}" for cls, n in counts.items() for i in range(1, n + 1)]
    locs = rng.sample(range(1, 4 * len(names) + 1), len(names))  # "loc N" numbers carry no meaning
    return {
        name: Receptacle(
            name=name, cls=name.rpartition(" ")[0], loc=loc, openable=spec[name.rpartition(" ")[0]][0]
        )
        for name, loc in zip(names, locs, strict=True)
    }


def _make_goal(rng: random.Random, room: str, task_type: str, receptacles: dict[str, Receptacle]) -> Goal:
    prop = TASK_PROPERTY.get(task_type, "")
    classes = sorted(cls for cls, props in OBJECTS[room].items() if prop in props)
    obj_cls = rng.choice(classes)
    if task_type == LOOK:
        target_cls = LAMP
    else:
        # The appliance used on the way is never the destination ("put a hot apple in microwave" is trivial).
        skip = {CLEAN: "sinkbasin", HEAT: "microwave", COOL: "fridge"}.get(task_type)
        options = sorted({r.cls for r in receptacles.values() if accepts(r.cls, obj_cls) and r.cls != skip})
        target_cls = rng.choice(options)
    text = rng.choice(GOAL_TEMPLATES[task_type]).format(o=obj_cls, r=target_cls)
    return Goal(task_type=task_type, obj_cls=obj_cls, target_cls=target_cls, text=text)


def _place_goal_objects(rng, room, goal: Goal, receptacles, items, config: WorldConfig) -> None:
    props = OBJECTS[room][goal.obj_cls]
    for _ in range(2 if goal.task_type == TWO else rng.choice((1, 1, 2))):
        _place(rng, _new_item(items, goal.obj_cls, props), receptacles, config, avoid=goal.target_cls)
    if goal.task_type == LOOK:
        hosts = [r for r in receptacles.values() if r.cls in LAMP_HOSTS]
        lamp = _new_item(items, LAMP, "")
        lamp.lamp = True
        rng.choice(hosts).contents.append(lamp.name)


def _new_item(items: dict[str, Item], cls: str, props: str) -> Item:
    number = 1 + sum(1 for i in items.values() if i.cls == cls)
    item = Item(
        name=f"{cls} {number}", cls=cls, cleanable="c" in props, heatable="h" in props, coolable="k" in props
    )
    items[item.name] = item
    return item


def _place(
    rng: random.Random, item: Item, receptacles: dict[str, Receptacle], config: WorldConfig, avoid: str
) -> None:
    # Goal objects never start in a goal receptacle, so no game is won before it begins.
    options = [
        r
        for r in receptacles.values()
        if accepts(r.cls, item.cls)
        and r.cls != avoid
        and r.cls
        not in ("microwave", "fridge", "sinkbasin", "stoveburner", "toaster", "coffeemachine", "garbagecan")
    ]
    closed = [r for r in options if r.openable]
    pool = (
        closed
        if closed and rng.random() < config.hidden_prob
        else [r for r in options if not r.openable] or options
    )
    rng.choice(pool).contents.append(item.name)
