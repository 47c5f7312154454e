"""Real-engine backend: ALFWorld's TextWorld environment playing a `game.tw-pddl` file behind the `Game` interface.

The engine is loaded the way AgentBench v0.2 loads it (`AlfredTWEnv.init_env`: the ALFRED demangler, the game
file info, admissible commands and `won`), so the harness sees the same text. Needs the `alfworld` extra
(`alfworld` + `textworld` with `fast_downward`); `engine_missing()` says why it cannot import.

Task lists: `game_dir_tasks(DIR)` (every game.tw-pddl under DIR, sorted paths) or `split_tasks(FILE.json, root)`
(an AgentBench split: `{"task type": ["relative/game/dir/game.tw-pddl", ...]}`, in file order).

Our own test game (no ALFRED data) is `testgames/`; `build_test_game(out_dir)` combines its problem with the
installed engine's PDDL domain and grammar into a playable game folder.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from agentbench_tuning.envs.alfworld.harness import GameState
from agentbench_tuning.envs.alfworld.prompts import task_type_of

TESTGAMES = Path(__file__).parent / "testgames"
MAX_EPISODE_STEPS = 50  # what v0.2's config registers with TextWorld; the harness stops at 35 anyway


def engine_missing() -> str | None:
    """None when the real engine can run here, else the reason it cannot."""
    try:
        import alfworld.agents.environment.alfred_tw_env  # noqa: F401
        import fast_downward  # noqa: F401
        import textworld.gym  # noqa: F401
    except ImportError as err:
        return f"ALFWorld engine not importable ({err}); install the `alfworld` extra: pip install alfworld textworld"
    return None


def game_name(path: str | Path) -> str:
    """v0.2's name for a game: its last two folders (`pick_heat_then_place_in_recep-.../trial_...`)."""
    return "/".join(str(path).split("/")[-3:-1])


@dataclass(frozen=True)
class TextWorldTask:
    index: int
    path: str
    expert: bool = False  # also compute the engine's handcoded expert plan each step (slower)

    def load(self) -> TextWorldGame:
        return TextWorldGame(self.path, expert=self.expert)

    @property
    def task_type(self) -> str:
        return task_type_of(game_name(self.path))


def game_dir_tasks(game_dir: str | Path, expert: bool = False) -> list[TextWorldTask]:
    paths = sorted(str(p) for p in Path(game_dir).rglob("game.tw-pddl"))
    if not paths:
        raise FileNotFoundError(f"{game_dir}: no game.tw-pddl files found below it")
    return [TextWorldTask(index=i, path=p, expert=expert) for i, p in enumerate(paths)]


def split_tasks(split_file: str | Path, data_root: str | Path, expert: bool = False) -> list[TextWorldTask]:
    """An AgentBench split file; entries are relative to `data_root` (v0.2's ALFWORLD_DATA)."""
    split_file = Path(split_file)
    try:
        content = json.loads(split_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{split_file}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(content, dict) or not all(isinstance(v, list) for v in content.values()):
        raise ValueError(f'{split_file}: expected {{"task type": ["path/to/game.tw-pddl", ...], ...}}')
    paths = [str(Path(data_root) / rel) for files in content.values() for rel in files]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise FileNotFoundError(
            f"{split_file}: {len(missing)} games not found under {data_root}, e.g. {missing[0]}"
        )
    return [TextWorldTask(index=i, path=p, expert=expert) for i, p in enumerate(paths)]


class TextWorldGame:
    def __init__(self, path: str, expert: bool = False):
        reason = engine_missing()
        if reason:
            raise ImportError(reason)
        self.path = path
        self.name = game_name(path)
        self.task_type = task_type_of(self.name)
        self.expert = expert
        self._env = _make_env(path, expert)
        self._infos: dict = {}
        self.expert_used: Counter[str] = Counter()

    def reset(self) -> GameState:
        random.seed(42)  # the handcoded expert breaks ties with `random`; v0.2 seeds with 42 too
        obs, infos = self._env.reset()
        self._infos = infos
        self.expert_used = Counter()
        return GameState(obs[0], list(infos["admissible_commands"][0]), won=bool(infos["won"][0]), done=False)

    def step(self, command: str) -> GameState:
        obs, _, dones, infos = self._env.step([command])
        self._infos = infos
        return GameState(
            obs[0], list(infos["admissible_commands"][0]), won=bool(infos["won"][0]), done=bool(dones[0])
        )

    def progress(self) -> None:
        return None  # the engine only reports `won`

    def expert_action(self) -> str:
        """The expert's next command (requires `expert=True`): the first step of the PDDL planner's plan from
        the current state, or the hand-coded expert's choice when the planner has none. `expert_used`
        counts which one chose each command (the hand-coded expert loses some games the planner solves)."""
        if not self.expert:
            raise RuntimeError(f"{self.path}: load the task with expert=True to get the engine's expert plan")
        plan = self._infos.get("policy_commands", [None])[0]
        if plan:
            self.expert_used["planner"] += 1
            return plan[0]
        self.expert_used["handcoded"] += 1
        return self._infos["extra.expert_plan"][0][0]

    def close(self) -> None:
        self._env.close()


def _make_env(path: str, expert: bool):
    import textworld
    import textworld.gym
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredExpert, AlfredInfos

    wrappers = [AlfredDemangler(shuffle=False), AlfredInfos]
    request_infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
    if expert:
        wrappers.append(AlfredExpert("handcoded"))
        request_infos.extras.append("expert_plan")
        request_infos.policy_commands = True  # the PDDL planner's plan, tried before the hand-coded expert
    env_id = textworld.gym.register_games(
        [path],
        request_infos,
        batch_size=1,
        asynchronous=False,
        max_episode_steps=MAX_EPISODE_STEPS,
        wrappers=wrappers,
    )
    return textworld.gym.make(env_id)


def build_test_game(
    out_dir: str | Path,
    game: str = "pick_and_place_simple-Apple-None-CounterTop-1/trial_ours_1",
    goal: str = "put a apple in countertop.",
) -> Path:
    """Write a playable game.tw-pddl for one of our test problems; returns its path.

    Domain and grammar come from the installed `alfworld` package (the engine's rules, not game data);
    the problem and traj_data.json are ours, under `testgames/`.
    """
    import alfworld

    logic = Path(alfworld.__file__).parent / "data"
    src = TESTGAMES / game
    dest = Path(out_dir) / game
    dest.mkdir(parents=True, exist_ok=True)
    grammar = (logic / "alfred.twl2").read_text(encoding="utf-8").replace("UNKNOWN GOAL", goal.rstrip("."))
    data = {
        "pddl_domain": (logic / "alfred.pddl").read_text(encoding="utf-8"),
        "grammar": grammar,
        "pddl_problem": (src / "problem.pddl").read_text(encoding="utf-8"),
        "solvable": True,
    }
    (dest / "game.tw-pddl").write_text(json.dumps(data), encoding="utf-8")
    (dest / "traj_data.json").write_text(
        (src / "traj_data.json").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return dest / "game.tw-pddl"
