"""Export a simulator `World` as an ALFWorld PDDL game, so the real engine can play our generated games.

The problem uses ALFRED-style ids that the engine's demangler turns back into our names ("cabinet 3"), one
location per receptacle, and the goal predicate of the task type. `write_game` adds the engine's own domain
and grammar (from the installed `alfworld` package) and a `traj_data.json`, giving a folder `TextWorldGame`
loads. Used to check the simulator against the engine (`benchmarks/alfworld_engine_parity.py`).

    path = write_game(generate_world(seed=3), "games/")     # games/<task_type>-sim-3/trial_0/game.tw-pddl
"""

from __future__ import annotations

import json
from pathlib import Path

from agentbench_tuning.envs.alfworld.world import CLEAN, COOL, HEAT, LOOK, TWO, World, accepts

_BASINS = {
    "sinkbasin": "sink",
    "bathtubbasin": "bathtub",
}  # the demangler appends "basin" to ids containing it


def entity_id(name: str) -> str:
    """ "cabinet 3" -> an id the engine demangles back to "cabinet 3".

    The demangler sorts ids and hands each class its numbers from the top down (`list.pop()`), so the id of
    instance k must sort *before* instance k-1: the suffix counts down from 999.
    """
    cls, _, num = name.rpartition(" ")
    head = _BASINS.get(cls, cls)
    tail = f"_bar_{cls}" if cls in _BASINS else ""
    return f"{head}_bar__plus_{999 - int(num):03d}_dot_00{tail}"


def _type(cls: str) -> str:
    return f"{cls}Type"  # PDDL names are case-insensitive; the domain's SinkBasinType is sinkbasinType


def _goal(world: World) -> str:
    g = world.goal
    o_type, r_type = _type(g.obj_cls), _type(g.target_cls)
    if g.task_type == LOOK:
        return (
            f"(exists (?lamp - object ?r - receptacle ?l - location) (and (objectType ?lamp {r_type}) "
            f"(toggleable ?lamp) (isToggled ?lamp) (receptacleAtLocation ?r ?l) (atLocation agent1 ?l) "
            f"(inReceptacle ?lamp ?r))) (exists (?o - object) (and (objectType ?o {o_type}) (holds agent1 ?o)))"
        )
    if g.task_type == TWO:
        return (
            f"(exists (?r - receptacle ?a - object ?b - object) (and (not (= ?a ?b)) (inReceptacle ?a ?r) "
            f"(inReceptacle ?b ?r) (objectType ?a {o_type}) (objectType ?b {o_type}) (receptacleType ?r {r_type})))"
        )
    state = {CLEAN: " (isClean ?o)", HEAT: " (isHot ?o)", COOL: " (isCool ?o)"}.get(g.task_type, "")
    return (
        f"(exists (?r - receptacle ?o - object) (and (inReceptacle ?o ?r) (objectType ?o {o_type}) "
        f"(receptacleType ?r {r_type}){state}))"
    )


def world_to_problem(world: World) -> str:
    """The PDDL problem for `world` in its current state (normally right after generation)."""
    locs = {name: f"loc_bar_{i + 1}" for i, name in enumerate(sorted(world.receptacles))}
    types = {_type(i.cls) for i in world.items.values()} | {"knifeType", "butterknifeType"}
    rtypes = {_type(r.cls) for r in world.receptacles.values()} | {
        "sinkbasinType",
        "microwaveType",
        "fridgeType",
    }
    objects = ["agent1 - agent", "loc_bar_0 - location"] + [f"{loc} - location" for loc in locs.values()]
    objects += [f"{entity_id(n)} - receptacle" for n in world.receptacles]
    objects += [f"{entity_id(n)} - object" for n in world.items]
    objects += [f"{t} - otype" for t in sorted(types)] + [f"{t} - rtype" for t in sorted(rtypes)]
    init = [
        "(= (total-cost) 0)",
        f"(atLocation agent1 {locs[world.location] if world.location else 'loc_bar_0'})",
    ]
    for r in world.receptacles.values():
        rid = entity_id(r.name)
        init += [f"(receptacleAtLocation {rid} {locs[r.name]})", f"(receptacleType {rid} {_type(r.cls)})"]
        init += [f"(openable {rid})"] * r.openable + [f"(opened {rid})"] * r.opened
        for name in r.contents:
            init += [
                f"(inReceptacle {entity_id(name)} {rid})",
                f"(objectAtLocation {entity_id(name)} {locs[r.name]})",
            ]
    for item in world.items.values():
        oid = entity_id(item.name)
        init.append(f"(objectType {oid} {_type(item.cls)})")
        flags = {
            "toggleable": item.lamp,
            "pickupable": not item.lamp,
            "cleanable": item.cleanable,
            "heatable": item.heatable,
            "coolable": item.coolable,
            "isToggled": item.on,
            "isClean": item.clean,
            "isHot": item.hot,
            "isCool": item.cool,
        }
        init += [f"({flag} {oid})" for flag, on in flags.items() if on]
    classes = {i.cls for i in world.items.values()}
    for r_cls in sorted({r.cls for r in world.receptacles.values()}):
        init += [f"(canContain {_type(r_cls)} {_type(c)})" for c in sorted(classes) if accepts(r_cls, c)]
    body = "\n    ".join(init)
    return (
        "(define (problem sim_world)\n  (:domain alfred)\n  (:objects\n    "
        + "\n    ".join(objects)
        + "\n  )\n"
        f"  (:init\n    {body}\n  )\n  (:goal (and {_goal(world)}))\n)\n"
    )


def write_game(world: World, out_dir: str | Path, name: str = "sim") -> Path:
    """Write `<task_type>-<name>/trial_0/{game.tw-pddl, traj_data.json}` under `out_dir`; returns the game path."""
    import alfworld

    logic = Path(alfworld.__file__).parent / "data"
    dest = Path(out_dir) / f"{world.goal.task_type}-{name}" / "trial_0"
    dest.mkdir(parents=True, exist_ok=True)
    grammar = (
        (logic / "alfred.twl2")
        .read_text(encoding="utf-8")
        .replace("UNKNOWN GOAL", world.goal.text.rstrip("."))
    )
    game = {
        "pddl_domain": (logic / "alfred.pddl").read_text(encoding="utf-8"),
        "grammar": grammar,
        "pddl_problem": world_to_problem(world),
        "solvable": True,
    }
    (dest / "game.tw-pddl").write_text(json.dumps(game), encoding="utf-8")
    g = world.goal
    params = {
        "object_target": g.obj_cls,
        "parent_target": "" if g.task_type == LOOK else g.target_cls,
        "toggle_target": g.target_cls if g.task_type == LOOK else "",
        "mrecep_target": "",
        "object_sliced": False,
    }
    traj = {
        "task_type": g.task_type,
        "pddl_params": params,
        "note": "exported from the agentbench-tuning simulator",
    }
    (dest / "traj_data.json").write_text(json.dumps(traj), encoding="utf-8")
    return dest / "game.tw-pddl"
