"""One ETO-style round: explore -> pair -> DPO, as one call (`abtune dpo-round --config X.yaml`).

1. explore: the current policy (the base plus `dpo.init_adapter`, e.g. the SFT adapter) plays `explore.tasks`
   generated *training* tasks (`explore.task_seed`; evaluation uses other games / the held-out split) with
   temperature > 0, `explore.seeds` episodes each, through `eval.runner.evaluate`;
2. expert: the benchmark's scripted expert plays the same tasks (it wins every one);
3. pair: `data.from_runs` pairs every failed episode with the expert's trajectory of the same task
   (`explore.level`: whole trajectories, observations masked, or the first step where they differ);
4. DPO on those pairs (plus any `pairs.train`), starting from `dpo.init_adapter`, whose frozen copy is the
   reference (ETO: the previous round's policy).

Every stage writes under `explore.out` (eval runs resume; the DPO run resumes or reports that it finished), so
re-running a round that was killed continues where it stopped.

    from agentbench_tuning.eval.runner import evaluate
    result = dpo_round(load_config("configs/dpo_debug.yaml", "dpo"), evaluate)

`evaluate` is passed in by the caller (the CLI, the notebook, a benchmark): training/ sits below eval/ in the
layer order, so this module does not import the runner itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentbench_tuning.config import EvalRunConfig, EvalSettings, RolloutSettings, Sampling
from agentbench_tuning.rl_config import DPORunConfig
from agentbench_tuning.training.dpo import DPOResult, run_dpo


@dataclass
class RoundResult:
    expert_dir: Path
    explore_dir: Path
    pairs_file: Path
    pairs: int
    explore_success_rate: float
    dpo: DPOResult | None  # None when there was nothing to pair (no failure, or no success to pair with)


def _task_settings(cfg: DPORunConfig, out: Path) -> dict:
    """EvalSettings fields selecting the training tasks of `explore` (generated, or the first `explore.tasks` of
    `explore.data`) and the prompt file the policy was trained with."""
    x = cfg.explore
    if x.benchmark == "alfworld-sim":
        return dict(games=x.tasks, game_seed=x.task_seed, world=x.world, prompt_file=x.prompt_file)
    if x.data:
        return dict(data=x.data, limit=x.tasks, backend="sqlite", prompt_file=x.prompt_file)
    from agentbench_tuning.envs.benchmarks import get_benchmark

    tasks_file = out / "tasks.jsonl"
    if not tasks_file.is_file():  # written once: a resumed round must see the same tasks file (run identity)
        specs = get_benchmark("dbbench").sft_tasks(x.tasks, x.task_seed)
        out.mkdir(parents=True, exist_ok=True)
        tasks_file.write_text("".join(json.dumps(s.task.to_sample()) + "\n" for s in specs))
    return dict(data=str(tasks_file), backend="sqlite", prompt_file=x.prompt_file)


def explore_configs(cfg: DPORunConfig) -> tuple[EvalRunConfig, EvalRunConfig]:
    """(expert run, exploration run) on the same generated training tasks."""
    x, out = cfg.explore, Path(cfg.explore.out)
    tasks = _task_settings(cfg, out)
    expert = EvalRunConfig(model=cfg.model, eval=EvalSettings(benchmark=x.benchmark, agent="expert",
                                                              out=str(out / "expert"), **tasks))
    rollout = RolloutSettings(engine=x.engine, adapter=cfg.dpo.init_adapter, batch_size=x.batch_size,
                              sampling=Sampling(temperature=x.temperature, max_new_tokens=x.max_new_tokens))
    explore = EvalRunConfig(model=cfg.model, rollout=rollout,
                            eval=EvalSettings(benchmark=x.benchmark, agent="model", seeds=list(x.seeds),
                                              out=str(out / "explore"), **tasks))
    return expert.validate(), explore.validate()


def _first_agent_turn(record: dict) -> int:
    return next((i for i, m in enumerate(record["messages"]) if m["role"] == "assistant" and m.get("sampled")),
                len(record["messages"]))


def round_pairs(expert_records: list[dict], explored_records: list[dict], level: str) -> list[dict]:
    """Each failed exploration episode against the expert's episode of the same task (same index: both runs
    play one task list), paired by `data.from_runs`.

    Records keep the harness's final transcript, and ALFWorld's drops the action list from every observation
    but the newest, so an episode that failed on its first turn still shows the list in its task turn while
    the expert's long episode does not; `from_runs` would see two different tasks. The failure's task prompt
    (what the explorer saw) is given to the expert's record before pairing."""
    from agentbench_tuning.data.from_runs import step_pairs, trajectory_pairs

    experts = {r["index"]: r for r in expert_records if r["success"]}
    pairs = []
    for lost in explored_records:
        won = experts.get(lost["index"])
        if lost["success"] or won is None or lost["status"] == "task error":
            continue
        prompt = lost["messages"][: _first_agent_turn(lost)]
        aligned = {**won, "messages": prompt + won["messages"][_first_agent_turn(won):]}
        pairs += (trajectory_pairs if level == "trajectory" else step_pairs)([aligned, lost])
    return pairs


def dpo_round(cfg: DPORunConfig, evaluate: Callable) -> RoundResult:
    """Explore, pair, train. `evaluate` is `eval.runner.evaluate` (EvalRunConfig -> EvalResult)."""
    from agentbench_tuning.data.from_runs import load_run_records

    cfg.validate()
    expert_cfg, explore_cfg = explore_configs(cfg)
    expert = evaluate(expert_cfg)
    explored = evaluate(explore_cfg)
    pairs = round_pairs(load_run_records([expert.out_dir]), load_run_records([explored.out_dir]), cfg.explore.level)
    pairs_file = Path(cfg.explore.out) / f"pairs_{cfg.explore.level}.jsonl"
    pairs_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs))
    rate = float(explored.summary["success"]["rate"])  # episodes won (DB Bench: graded correct)
    if not pairs:
        return RoundResult(expert.out_dir, explored.out_dir, pairs_file, 0, rate, None)
    dpo_cfg = dataclasses.replace(cfg, pairs=dataclasses.replace(cfg.pairs, train=[str(pairs_file), *cfg.pairs.train]))
    return RoundResult(expert.out_dir, explored.out_dir, pairs_file, len(pairs), rate, run_dpo(dpo_cfg))
