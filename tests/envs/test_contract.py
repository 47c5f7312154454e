"""The one contract every text environment meets (envs.base): simulator, real ALFWorld engine, DB Bench.

Each case is a function returning an `EnvCase`: a fresh env, a task, and a solver that writes winning model
outputs after reset. Adding an environment is one line in CASES.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from agentbench_tuning.envs.base import STATUSES, StepResult, TextEnv


@dataclass
class EnvCase:
    env: TextEnv
    task: Any
    make_solver: Callable[[TextEnv], Callable[[], str]]  # called after reset; each call = the next output


def _alfworld_solver(env) -> Callable[[], str]:
    from agentbench_tuning.envs.alfworld import ExpertAgent

    agent = ExpertAgent()
    agent.begin(None, env)
    return lambda: agent.act(env.messages)


def alfworld_sim_case() -> EnvCase:
    from agentbench_tuning.envs.alfworld import AlfworldEnv, sim_tasks

    return EnvCase(AlfworldEnv(), sim_tasks(3, seed=5)[2], _alfworld_solver)


@cache
def _textworld_game_dir() -> str:
    from agentbench_tuning.envs.alfworld import build_test_game

    root = tempfile.mkdtemp(prefix="abtune-twgame-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # built once per session, removed at exit
    build_test_game(root)
    return root


def alfworld_textworld_case() -> EnvCase:
    from agentbench_tuning.envs.alfworld import AlfworldEnv, game_dir_tasks

    return EnvCase(AlfworldEnv(), game_dir_tasks(_textworld_game_dir(), expert=True)[0], _alfworld_solver)


def dbbench_sqlite_case() -> EnvCase:
    from agentbench_tuning.envs.dbbench import DBBenchEnv, OracleAgent, SQLiteBackend
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate

    backend = SQLiteBackend()
    task = next(s.task for s in generate(DBGenConfig(n=6, seed=3), backend) if s.task.type == "UPDATE")

    def solver(env):
        agent = OracleAgent()
        agent.begin(task, env)
        return lambda: agent.act(env.messages)

    return EnvCase(DBBenchEnv(backend), task, solver)


def _engine_missing() -> str | None:
    from agentbench_tuning.envs.alfworld import engine_missing

    return engine_missing()


CASES = [
    pytest.param(alfworld_sim_case, id="alfworld-sim"),
    pytest.param(dbbench_sqlite_case, id="dbbench-sqlite"),
    pytest.param(
        alfworld_textworld_case,
        id="alfworld-textworld",
        marks=pytest.mark.skipif(_engine_missing() is not None, reason=str(_engine_missing())),
    ),
]


def _check_messages(messages) -> None:
    assert messages and all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in messages)
    assert messages[-1]["role"] == "user"  # the harness is waiting for the model
    roles = [m["role"] for m in messages if m["role"] != "system"]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "roles must alternate"


def _check_final(result: StepResult) -> None:
    assert result.done and isinstance(result.reward, float)
    assert result.info["status"] in STATUSES
    assert "reward" in result.info or "verdict" in result.info


@pytest.mark.parametrize("make_case", CASES)
def test_reset_gives_text_and_a_chat(make_case):
    case = make_case()
    assert isinstance(case.env, TextEnv)
    obs = case.env.reset(case.task, seed=0)
    assert isinstance(obs, str) and obs
    _check_messages(case.env.messages)


@pytest.mark.parametrize("make_case", CASES)
def test_solver_wins(make_case):
    case = make_case()
    case.env.reset(case.task, seed=0)
    solve = case.make_solver(case.env)
    for _ in range(50):
        _check_messages(case.env.messages)
        result = case.env.step(solve())
        assert isinstance(result, StepResult) and isinstance(result.observation, str)
        if result.done:
            break
    _check_final(result)
    assert result.reward == 1.0 and result.info["status"] == "completed"


@pytest.mark.parametrize("make_case", CASES)
def test_unformatted_output_ends_the_episode_with_zero_reward(make_case):
    case = make_case()
    case.env.reset(case.task, seed=0)
    for _ in range(50):
        result = case.env.step("I am not following the format at all.")
        if result.done:
            break
    _check_final(result)
    assert result.reward == 0.0 and result.info["status"] != "completed"


@pytest.mark.parametrize("make_case", CASES)
def test_reset_starts_over(make_case):
    case = make_case()
    first = case.env.reset(case.task, seed=0)
    case.env.step("I am not following the format at all.")
    assert case.env.reset(case.task, seed=0) == first
    _check_messages(case.env.messages)
