"""Prompt texts for the ALFWorld harness: our instruction, acknowledgement and 1-shot examples.

The examples are ours: one simulator game per task type (fixed seeds) played by our expert, so they never
change unless the simulator or expert does (a test pins their hash). `import_agentbench_prompts` reads the
original texts from a user's own AgentBench v0.2 checkout, for evaluation only, into a JSON file that
`load_prompts` (and `AlfworldEnv(prompts=...)`) accepts.

    prompts = default_prompts()
    path = import_agentbench_prompts("~/AgentBench", "prompts/")   # abtune prompts import --agentbench DIR
    env = AlfworldEnv(prompts=load_prompts(path))
"""

from __future__ import annotations

import ast
import functools
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from agentbench_tuning.envs.alfworld.world import CLEAN, COOL, HEAT, LOOK, PICK, TWO

# v0.2 picks the example by the game folder's prefix; these are its keys.
EXAMPLE_KEYS = {PICK: "put", CLEAN: "clean", HEAT: "heat", COOL: "cool", LOOK: "examine", TWO: "puttwo"}
FOLDER_PREFIXES = {
    "pick_and_place": PICK,
    "pick_clean_then_place": CLEAN,
    "pick_heat_then_place": HEAT,
    "pick_cool_then_place": COOL,
    "look_at_obj": LOOK,
    "pick_two_obj": TWO,
}

INSTRUCTION = (
    "You are an agent in a household, and your job is to complete a task there. At the start you will get a "
    "description of the room around you and the goal to reach. On every turn you will also get the list of "
    'actions you may take, and you pick exactly one of them. You may answer in one of two ways: "THOUGHT" or '
    '"ACTION". With "THOUGHT" you first reason about the situation and plan your next steps, then give the '
    'action for this turn; the reply must look exactly like this:"THOUGHT: your reasoning.\n ACTION: the action '
    'you pick\n". With "ACTION" you give the action straight away; the reply must look exactly like this:'
    '"ACTION: the action you pick\n". After each turn the environment tells you what happened, and you plan '
    'from there. If the environment says "Nothing happened", your action was not valid and you should try '
    "something else.\n Keep in mind: \n1. Pick the action from the available actions you are given. Anything "
    "else counts as an invalid action. \n2. Think only when it helps; most turns should just act.\n\n"
)
ACKNOWLEDGEMENT = "OK. I will follow your instructions and do my best to complete the task."
# One fixed seed per task type for the 1-shot examples (the first seeds from 101, 202, ... whose example opens a closed receptacle).
EXAMPLE_SEEDS = {PICK: 101, LOOK: 207, CLEAN: 306, HEAT: 405, COOL: 507, TWO: 610}


@dataclass(frozen=True)
class Prompts:
    instruction: str
    acknowledgement: str
    examples: dict[str, list[str]]  # EXAMPLE_KEYS value -> alternating turns, user first, assistant last

    def example_for(self, task_type: str) -> list[str]:
        key = EXAMPLE_KEYS[task_type]
        if key not in self.examples:
            raise KeyError(
                f"prompts have no example {key!r} for task type {task_type}; have {sorted(self.examples)}"
            )
        return list(self.examples[key])


def task_type_of(game_name: str) -> str:
    """Task type from a game folder name by v0.2's prefix rule (`pick_heat_then_place...` -> heat)."""
    for prefix, task_type in FOLDER_PREFIXES.items():
        if game_name.startswith(prefix):
            return task_type
    raise ValueError(f"game {game_name!r}: folder name must start with one of {', '.join(FOLDER_PREFIXES)}")


def example_turns(task_type: str, seed: int) -> list[str]:
    """One expert episode as alternating turns: observation, expert output, ..., the winning output."""
    from agentbench_tuning.envs.alfworld.expert import plan
    from agentbench_tuning.envs.alfworld.generator import WorldConfig, generate_world
    from agentbench_tuning.envs.alfworld.protocol import initial_observation, step_observation

    world = generate_world(seed, WorldConfig(task_type=task_type, max_receptacles=14, distractors=6))
    turns = [initial_observation(world.intro())]
    for turn in plan(world, random.Random(seed)):
        turns.append(turn.text())
        turns.append(step_observation(world.step(turn.action)))
    return turns[:-1]  # end on the winning output, as v0.2's examples end on an agent turn


@functools.cache
def default_prompts() -> Prompts:
    examples = {EXAMPLE_KEYS[t]: example_turns(t, seed) for t, seed in EXAMPLE_SEEDS.items()}
    return Prompts(instruction=INSTRUCTION, acknowledgement=ACKNOWLEDGEMENT, examples=examples)


def load_prompts(path: str | Path) -> Prompts:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    for key in ("instruction", "acknowledgement", "examples"):
        if key not in data:
            raise ValueError(
                f"{path}: missing field {key!r}; write it with `abtune prompts import --agentbench DIR`"
            )
    missing = sorted(set(EXAMPLE_KEYS.values()) - set(data["examples"]))
    if missing:
        raise ValueError(f"{path}: field 'examples' lacks {missing}")
    return Prompts(
        instruction=data["instruction"], acknowledgement=data["acknowledgement"], examples=data["examples"]
    )


def save_prompts(prompts: Prompts, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(prompts), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ importing a user's AgentBench checkout
TASK_PY = "src/server/tasks/alfworld/task.py"
TASK_YAML = "configs/tasks/alfworld.yaml"


def import_agentbench_prompts(agentbench_dir: str | Path, out_dir: str | Path) -> Path:
    """Read v0.2's ALFWorld instruction, acknowledgement and examples from a checkout; write alfworld_prompts.json.

    Where v0.2 keeps them: the instruction is the string `get_task_instruction()` returns and the
    acknowledgement the agent turn injected in `alfworld_run()` (both in task.py); the examples are the JSON
    file named by `prompts_path` in configs/tasks/alfworld.yaml. Nothing is copied into this repository.
    """
    root = Path(agentbench_dir).expanduser()
    task_py = root / TASK_PY
    if not task_py.exists():
        raise FileNotFoundError(
            f"{task_py} not found: pass the root of an AgentBench checkout on its v0.2 branch"
        )
    instruction, ack = _instruction_and_ack(task_py)
    examples_path = root / _prompts_path(root / TASK_YAML)
    try:
        examples = json.loads(examples_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{examples_path}: cannot read the example prompts ({err})") from None
    prompts = Prompts(instruction=instruction, acknowledgement=ack, examples=examples)
    missing = sorted(set(EXAMPLE_KEYS.values()) - set(examples))
    if missing:
        raise ValueError(f"{examples_path}: no examples for {missing}")
    return save_prompts(prompts, Path(out_dir) / "alfworld_prompts.json")


def _prompts_path(task_yaml: Path) -> str:
    config = yaml.safe_load(task_yaml.read_text(encoding="utf-8"))
    try:
        return config["default"]["parameters"]["prompts_path"]
    except (KeyError, TypeError):
        raise ValueError(f"{task_yaml}: field default.parameters.prompts_path not found") from None


def _instruction_and_ack(task_py: Path) -> tuple[str, str]:
    tree = ast.parse(task_py.read_text(encoding="utf-8"), filename=str(task_py))
    instruction = ack = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "get_task_instruction":
            returns = [n.value for n in ast.walk(node) if isinstance(n, ast.Return)]
            if returns and isinstance(returns[0], ast.Constant) and isinstance(returns[0].value, str):
                instruction = returns[0].value
        if isinstance(node, ast.Dict) and ack is None:
            pairs = {
                k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)
            }
            role, content = pairs.get("role"), pairs.get("content")
            if isinstance(role, ast.Constant) and role.value == "agent" and isinstance(content, ast.Constant):
                ack = content.value
    if instruction is None or ack is None:
        raise ValueError(
            f"{task_py}: could not find get_task_instruction()'s string and the injected agent "
            f"acknowledgement; is this the v0.2 branch?"
        )
    return instruction, ack
