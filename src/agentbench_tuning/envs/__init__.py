"""Text environments sharing the contract in `envs.base`.

    from agentbench_tuning.envs import make_env
    env = make_env("dbbench", backend="sqlite")     # or make_env("alfworld")
"""

from __future__ import annotations

from typing import Any

from agentbench_tuning.envs.base import TextEnv


def _dbbench(backend: str = "sqlite", db_url: str | None = None, **options: Any) -> TextEnv:
    from agentbench_tuning.envs.dbbench import DBBenchEnv, make_backend

    return DBBenchEnv(make_backend(backend, db_url), **options)


def _alfworld(**options: Any) -> TextEnv:
    from agentbench_tuning.envs.alfworld import AlfworldEnv

    return AlfworldEnv(**options)


ENVS = {"dbbench": _dbbench, "alfworld": _alfworld}


def make_env(name: str, **options: Any) -> TextEnv:
    """A fresh environment; each episode runner (eval, GRPO) makes one per concurrent episode."""
    if name not in ENVS:
        raise ValueError(f"unknown environment {name!r}; choose one of {sorted(ENVS)}")
    return ENVS[name](**options)
