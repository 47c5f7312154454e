"""The benchmark table: one entry per benchmark, read by the CLI, the evaluation runner, SFT data sources,
GRPO and sweeps. Adding a benchmark is adding one entry here (and the contract test covers every entry).

An entry says how to
- load its tasks from the eval settings (`load_tasks(settings) -> [EpisodeSpec]`),
- open environments for them (`open_envs(settings) -> EnvSource`, closed after the run),
- score a run (`score(records of one seed) -> {metric: value}`, `headline` names the reported metric),
- play its scripted agents (`agents[name](settings) -> () -> ScriptedAgent`, a fresh agent per episode),
- generate training tasks for SFT data (`sft_tasks(n, seed)`, played by its `expert` agent in `data.generated`),
- reward a GRPO rollout (`rewards`: names in `agentbench_tuning.rewards.REWARDS`, success first).

    bench = BENCHMARKS["dbbench"]
    specs = bench.load_tasks(settings); envs = bench.open_envs(settings)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentbench_tuning.config import EvalSettings
from agentbench_tuning.envs.base import EpisodeSpec, ScriptedAgent, TextEnv, load_replay


class EnvSource:
    """Fresh environments for one run (`make_env` per episode) and the resources behind them (`close`)."""

    def __init__(self, make_env: Callable[[], TextEnv], close: Callable[[], None] = lambda: None):
        self.make_env = make_env
        self._close = close

    def close(self) -> None:
        self._close()


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    load_tasks: Callable[[EvalSettings], list[EpisodeSpec]]
    open_envs: Callable[[EvalSettings], EnvSource]
    score: Callable[[Sequence[dict]], dict[str, float]]
    headline: str
    agents: dict[str, Callable[[EvalSettings], Callable[[], ScriptedAgent]]]
    sft_tasks: Callable[[int, int], list[EpisodeSpec]]
    rewards: tuple[str, ...]


def success_rate(records: Sequence[dict]) -> dict[str, float]:
    """The ALFWorld metric (and the default): won / total."""
    return {"success_rate": sum(bool(r["success"]) for r in records) / len(records) if records else float("nan")}


def dbbench_score(records: Sequence[dict]) -> dict[str, float]:
    """AgentBench DB Bench: SELECT (every type but INSERT/UPDATE), INSERT and UPDATE accuracy and
    `overall_cat_accuracy`, their mean, by the harness's own grader summary. A category with no items is
    absent, not 0 (it still counts 0 in the overall mean, as v0.2's formula does)."""
    from agentbench_tuning.envs.dbbench.grade import summarize

    summary = summarize([{**r, "verdict": r.get("verdict", r.get("success"))} for r in records])
    types = {r["type"] for r in records}
    present = {"SELECT": bool(types - {"INSERT", "UPDATE"}), "INSERT": "INSERT" in types, "UPDATE": "UPDATE" in types}
    out = {cat: summary[f"{cat}_accuracy"] for cat, has in present.items() if has}
    out["overall_cat_accuracy"] = summary["overall_cat_accuracy"]
    return out


def _replay(settings: EvalSettings) -> dict[int, list[str]]:
    if not settings.responses:
        raise ValueError("the replay agent needs --responses FILE.jsonl (a replay file or a run's records.jsonl)")
    return load_replay(settings.responses)


# ------------------------------------------------------------------ DB Bench


def _dbbench_tasks(settings: EvalSettings) -> list[EpisodeSpec]:
    from agentbench_tuning.envs.dbbench import load_tasks

    if not settings.data:
        raise ValueError("DB Bench needs --data FILE.jsonl (v0.2-format samples, e.g. from `abtune data dbbench-gen`)")
    tasks = load_tasks(settings.data, allow_broken_tables=settings.allow_broken_tables)[: settings.limit]
    return [EpisodeSpec(t.index, t, t.type) for t in tasks]


def _dbbench_envs(settings: EvalSettings) -> EnvSource:
    from agentbench_tuning.envs.dbbench import EnvPool, MySQLBackend, make_backend, server

    if settings.backend == "mysql":
        url = settings.db_url or (running.url if (running := server.status()) else None)
        if not url:
            raise ValueError("--backend mysql needs a server: start one with `abtune db start` or pass --db-url")

        def make_db():
            return MySQLBackend(url)  # every episode gets its own database and sandbox user
    else:

        def make_db():
            return make_backend(settings.backend)

    make_db().close()  # fail now, not inside the first episode, if the server is unreachable
    pool = EnvPool(make_db, prompt_file=settings.prompt_file, compare=settings.compare)
    return EnvSource(pool.make_env, pool.close)


def _dbbench_sft_tasks(n: int, seed: int) -> list[EpisodeSpec]:
    """n generated training samples (held-out tables excluded), gold hashes on SQLite; each task carries
    the generator's expert turns in `extra["expert_turns"]`."""
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate
    from agentbench_tuning.envs.dbbench.sqlite_backend import SQLiteBackend

    backend = SQLiteBackend()
    total = int(n / (1 - DBGenConfig.heldout_fraction)) + 8
    try:
        while True:  # the held-out share is drawn by table, so ask for more until n training samples remain
            samples = [s for s in generate(DBGenConfig(n=total, seed=seed), backend) if not s.heldout][:n]
            if len(samples) == n:
                break
            total += max(8, n - len(samples)) * 2
    finally:
        backend.close()
    return [EpisodeSpec(i, s.task, s.task.type) for i, s in enumerate(samples)]


def _db_expert(settings: EvalSettings) -> Callable[[], ScriptedAgent]:
    from agentbench_tuning.envs.dbbench.agents import ExpertTurnsAgent

    return ExpertTurnsAgent


def _db_oracle(settings: EvalSettings) -> Callable[[], ScriptedAgent]:
    from agentbench_tuning.envs.dbbench.agents import OracleAgent

    return OracleAgent


def _db_replay(settings: EvalSettings) -> Callable[[], ScriptedAgent]:
    from agentbench_tuning.envs.dbbench.agents import ReplayAgent

    replay = _replay(settings)
    return lambda: ReplayAgent(replay)


# ------------------------------------------------------------------ ALFWorld


def _sim_tasks(settings: EvalSettings) -> list[EpisodeSpec]:
    from agentbench_tuning.envs.alfworld import WorldConfig, sim_tasks

    tasks = sim_tasks(settings.games, seed=settings.game_seed, config=WorldConfig.of(settings.world))
    return [EpisodeSpec(t.index, t, t.task_type) for t in tasks][: settings.limit]


def _engine_tasks(settings: EvalSettings) -> list[EpisodeSpec]:
    from agentbench_tuning.envs.alfworld import game_dir_tasks, split_tasks

    if bool(settings.game_dir) == bool(settings.split):
        raise ValueError("the real engine needs exactly one of --game-dir DIR or --split FILE.json")
    expert = settings.agent == "expert"
    if settings.game_dir:
        tasks = game_dir_tasks(settings.game_dir, expert=expert)
    elif not settings.data_root:
        raise ValueError("--split needs --data-root DIR (the folder its game paths are relative to)")
    else:
        tasks = split_tasks(settings.split, settings.data_root, expert=expert)
    return [EpisodeSpec(t.index, t, t.task_type) for t in tasks[: settings.limit]]


def _alfworld_envs(settings: EvalSettings) -> EnvSource:
    from agentbench_tuning.envs.alfworld import AlfworldEnv, load_prompts

    prompts = load_prompts(settings.prompt_file) if settings.prompt_file else None
    return EnvSource(lambda: AlfworldEnv(prompts=prompts))


def _alfworld_sft_tasks(n: int, seed: int) -> list[EpisodeSpec]:
    from agentbench_tuning.envs.alfworld import sim_tasks

    return [EpisodeSpec(t.index, t, t.task_type) for t in sim_tasks(n, seed=seed)]


def _alf_expert(settings: EvalSettings) -> Callable[[], ScriptedAgent]:
    from agentbench_tuning.envs.alfworld.agents import ExpertAgent

    return ExpertAgent


def _alf_replay(settings: EvalSettings) -> Callable[[], ScriptedAgent]:
    from agentbench_tuning.envs.alfworld.agents import ReplayAgent

    replay = _replay(settings)
    return lambda: ReplayAgent(replay)


_ALFWORLD: dict[str, Any] = dict(
    open_envs=_alfworld_envs, score=success_rate, headline="success_rate",
    agents={"expert": _alf_expert, "replay": _alf_replay}, sft_tasks=_alfworld_sft_tasks,
    rewards=("alfworld_success", "alfworld_valid_action", "alfworld_progress"),
)

BENCHMARKS: dict[str, Benchmark] = {
    "dbbench": Benchmark(
        "dbbench", "DB Bench: multi-turn SQL against MySQL/MariaDB (or SQLite), v0.2 grading",
        _dbbench_tasks, _dbbench_envs, dbbench_score, "overall_cat_accuracy",
        {"oracle": _db_oracle, "replay": _db_replay, "expert": _db_expert}, _dbbench_sft_tasks,
        ("dbbench_success", "dbbench_format"),
    ),
    "alfworld-sim": Benchmark("alfworld-sim", "ALFWorld v0.2 harness on our household simulator", _sim_tasks,
                              **_ALFWORLD),
    "alfworld-engine": Benchmark("alfworld-engine", "ALFWorld v0.2 harness on the real TextWorld engine",
                                 _engine_tasks, **_ALFWORLD),
}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def agent_names(name: str) -> tuple[str, ...]:
    return ("model", *get_benchmark(name).agents)
