"""Household game state and its ALFWorld 2.1.1 text interface (pure Python, no ALFWorld data).

A `World` is one game: receptacles at numbered locations, objects inside them, the agent's location and
hand, and a goal. `admissible_commands()` lists exactly the commands the 2.1.1 engine would accept, and
`step(command)` answers with the engine's feedback strings; anything else is "Nothing happens." and leaves
the state unchanged. Both come from one table of command -> effect, so they cannot disagree.

    world = generate_world(seed=3)          # envs.alfworld.generator
    print(world.intro())
    print(world.step("go to fridge 1"), world.won())
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

BANNER = "-= Welcome to TextWorld, ALFRED! =-"
NOTHING = "Nothing happens."

PICK = "pick_and_place_simple"
LOOK = "look_at_obj_in_light"
CLEAN = "pick_clean_then_place_in_recep"
HEAT = "pick_heat_then_place_in_recep"
COOL = "pick_cool_then_place_in_recep"
TWO = "pick_two_obj_and_place"
TASK_TYPES = (PICK, LOOK, CLEAN, HEAT, COOL, TWO)


@dataclass
class Receptacle:
    name: str  # "cabinet 3"
    cls: str  # "cabinet"
    loc: int  # the engine's "loc N", cut by the harness
    openable: bool
    opened: bool = False
    contents: list[str] = field(default_factory=list)


@dataclass
class Item:
    name: str  # "apple 1"
    cls: str
    cleanable: bool = False
    heatable: bool = False
    coolable: bool = False
    lamp: bool = False
    clean: bool = False
    hot: bool = False
    cool: bool = False
    on: bool = False


@dataclass(frozen=True)
class Goal:
    task_type: str
    obj_cls: str
    target_cls: str  # receptacle class, or the lamp class for look_at_obj_in_light
    text: str  # "put a hot apple in fridge."


def sort_key(name: str) -> tuple[str, int]:
    """Engine order for listings: class ascending, instance number descending ("cabinet 4, cabinet 3")."""
    cls, _, num = name.rpartition(" ")
    return cls, -int(num)


def listing(names: list[str]) -> str:
    """TextWorld's list rendering: "a x 2", "a x 2, and a y 1", "a x, a y, and a z", or "nothing"."""
    if not names:
        return "nothing"
    parts = [f"a {n}" for n in sorted(names, key=sort_key)]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


@dataclass
class World:
    receptacles: dict[str, Receptacle]
    items: dict[str, Item]
    goal: Goal
    location: str | None = None  # receptacle name the agent stands at; None = middle of the room
    held: str | None = None
    _commands: dict[str, Callable[[], str]] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ text
    def intro(self) -> str:
        return f"{BANNER}\n\n{self.look_text()}\n\nYour task is to: {self.goal.text}"

    def look_text(self) -> str:
        if self.location is None:
            seen = listing(list(self.receptacles))
            return f"You are in the middle of a room. Looking quickly around you, you see {seen}."
        return f"You are facing the {self.location}. Next to it, you see nothing."

    def describe(self, r: Receptacle) -> str:
        if r.openable and not r.opened:
            return f"The {r.name} is closed."
        if r.openable:
            return f"The {r.name} is open. In it, you see {listing(r.contents)}."
        return f"On the {r.name}, you see {listing(r.contents)}."

    def describe_item(self, item: Item) -> str:
        states = [s for s, on in (("hot", item.hot), ("cool", item.cool), ("clean", item.clean)) if on]
        if not states:
            return f"There's nothing special about {item.name}."
        return f"This is a {' and '.join(states)} {item.name}."

    # ------------------------------------------------------------------ commands
    def admissible_commands(self) -> list[str]:
        return sorted(self._table())

    def step(self, command: str) -> str:
        effect = self._table().get(command.strip())
        if effect is None:
            return NOTHING
        self._commands = None  # the state changes; the table is rebuilt on demand
        return effect()

    def _table(self) -> dict[str, Callable[[], str]]:
        if self._commands is None:
            self._commands = self._build_table()
        return self._commands

    def _build_table(self) -> dict[str, Callable[[], str]]:
        table: dict[str, Callable[[], str]] = {"look": self.look_text, "inventory": self._inventory}
        for r in self.receptacles.values():
            if r.name != self.location:  # the engine offers no "go to" for where the agent stands
                table[f"go to {r.name}"] = lambda r=r: self._go(r)
        if self.location is not None:
            self._add_local(table, self.receptacles[self.location])
        if self.held is not None:
            table[f"examine {self.held}"] = lambda: self.describe_item(self.items[self.held])
        return table

    def _add_local(self, table: dict[str, Callable[[], str]], r: Receptacle) -> None:
        table[f"examine {r.name}"] = lambda: self.describe(r)
        if r.openable:
            if r.opened:
                table[f"close {r.name}"] = lambda: self._close(r)
            else:
                table[f"open {r.name}"] = lambda: self._open(r)
        reachable = not r.openable or r.opened
        for name in r.contents:
            item = self.items[name]
            if item.lamp:
                table[f"use {name}"] = lambda item=item: self._toggle(item)
            # Objects can be examined only in hand (as the engine's admissible commands show).
            if reachable and self.held is None and not item.lamp:
                table[f"take {name} from {r.name}"] = lambda name=name: self._take(name, r)
        if self.held is not None:
            self._add_held(table, r, reachable)

    def _add_held(self, table: dict[str, Callable[[], str]], r: Receptacle, reachable: bool) -> None:
        item = self.items[self.held]
        if reachable and accepts(r.cls, item.cls):
            table[f"put {item.name} in/on {r.name}"] = lambda: self._put(item, r)
        if r.cls == "microwave" and item.heatable:
            table[f"heat {item.name} with {r.name}"] = lambda: self._change(item, "heat", r)
        if r.cls == "fridge" and item.coolable:
            table[f"cool {item.name} with {r.name}"] = lambda: self._change(item, "cool", r)
        if r.cls == "sinkbasin" and item.cleanable:
            table[f"clean {item.name} with {r.name}"] = lambda: self._change(item, "clean", r)

    # ------------------------------------------------------------------ effects
    def _go(self, r: Receptacle) -> str:
        self.location = r.name
        return f"You arrive at loc {r.loc}. {self.describe(r)}"

    def _open(self, r: Receptacle) -> str:
        r.opened = True
        return f"You open the {r.name}. {self.describe(r)}"

    def _close(self, r: Receptacle) -> str:
        r.opened = False
        return f"You close the {r.name}."

    def _take(self, name: str, r: Receptacle) -> str:
        r.contents.remove(name)
        self.held = name
        return f"You pick up the {name} from the {r.name}."

    def _put(self, item: Item, r: Receptacle) -> str:
        r.contents.append(item.name)
        self.held = None
        return f"You put the {item.name} in/on the {r.name}."

    def _change(self, item: Item, verb: str, r: Receptacle) -> str:
        # Heating undoes cooling and vice versa, as in ALFWorld's PDDL domain.
        if verb == "heat":
            item.hot, item.cool = True, False
        elif verb == "cool":
            item.cool, item.hot = True, False
        else:
            item.clean = True
        return f"You {verb} the {item.name} using the {r.name}."

    def _toggle(self, item: Item) -> str:
        # ALFWorld's goal checks "has been toggled", and its grammar words every use the same way, so a lamp
        # once used stays on here.
        item.on = True
        return f"You turn on the {item.name}."

    def _inventory(self) -> str:
        if self.held is None:
            return "You are not carrying anything."
        return f"You are carrying: a {self.held}."

    def clone(self) -> World:
        """An independent copy (the command table holds closures over `self`, so it is rebuilt, not copied)."""
        cached, self._commands = self._commands, None
        try:
            return copy.deepcopy(self)
        finally:
            self._commands = cached

    # ------------------------------------------------------------------ goal
    def won(self) -> bool:
        return goal_progress(self) == goal_size(self.goal)

    def where(self, name: str) -> str | None:
        """The receptacle holding `name`, or None when it is in the agent's hand."""
        for r in self.receptacles.values():
            if name in r.contents:
                return r.name
        return None


def goal_size(goal: Goal) -> int:
    return {PICK: 1, LOOK: 2, CLEAN: 2, HEAT: 2, COOL: 2, TWO: 2}[goal.task_type]


def goal_progress(world: World) -> int:
    """Sub-goals reached now (for shaped rewards): e.g. heat task = object hot (1) and placed hot (2)."""
    goal = world.goal
    if goal.task_type == LOOK:
        holding = world.held is not None and world.items[world.held].cls == goal.obj_cls
        here = world.receptacles[world.location].contents if world.location else []
        lit = any(world.items[n].cls == goal.target_cls and world.items[n].on for n in here)
        return int(holding) + int(holding and lit)
    prop = {CLEAN: "clean", HEAT: "hot", COOL: "cool"}.get(goal.task_type)
    placed = 0
    for r in world.receptacles.values():
        if r.cls == goal.target_cls:
            ok = [
                n
                for n in r.contents
                if world.items[n].cls == goal.obj_cls and (not prop or getattr(world.items[n], prop))
            ]
            placed = max(placed, len(ok))
    if goal.task_type == TWO:
        return min(placed, 2)
    if placed:
        return goal_size(goal)
    if (
        prop
        and world.held
        and world.items[world.held].cls == goal.obj_cls
        and getattr(world.items[world.held], prop)
    ):
        return 1
    return 0


# Which object classes each receptacle class accepts ("in/on"); classes not listed accept everything.
_FOOD = {"apple", "bread", "egg", "lettuce", "potato", "tomato"}
_DISH = {"bowl", "cup", "mug", "plate", "pan", "pot"}
RESTRICTED = {
    "microwave": _FOOD | {"bowl", "cup", "mug", "plate"},
    "fridge": _FOOD | _DISH | {"winebottle"},
    "coffeemachine": {"mug", "cup"},
    "toaster": {"bread"},
    "stoveburner": {"pan", "pot", "kettle"},
}


def accepts(recep_cls: str, obj_cls: str) -> bool:
    allowed = RESTRICTED.get(recep_cls)
    return allowed is None or obj_cls in allowed
