"""The DB Bench task generator: our own tables and questions, gold answers and hashes computed on a real
backend, and expert trajectories in the v0.2 turn format, written as SFT-ready conversations.

Every expert trajectory is played through `DBBenchEnv` on the backend, so its observations are the real
result text and it is kept only if the grader accepts it. Seeded, deduplicated, held-out split by table.

    python -m agentbench_tuning.cli data dbbench-gen --n 400 --seed 0 --out data/dbbench_gen
    # -> train.jsonl / heldout.jsonl (v0.2 samples), sft_train.jsonl / sft_heldout.jsonl ({"messages": ...})
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...records import write_json_atomic, write_jsonl
from .agents import operation_turn
from .env import Backend, DBBenchEnv
from .grade import quote_ident as q
from .questions import BUILDERS, Question
from .sqlite_mysql import NotReproducible
from .tables import Table, random_table
from .task import DBTask

# The benchmark's standard split is a third INSERT, a third UPDATE, a third SELECT types; DELETE is extra.
DEFAULT_MIX = {"INSERT": 0.3, "UPDATE": 0.3, "DELETE": 0.05, "other": 0.07, "counting": 0.06, "comparison": 0.05,
               "ranking": 0.05, "aggregation-SUM": 0.03, "aggregation-MIN": 0.03, "aggregation-MAX": 0.03,
               "aggregation-AVG": 0.03}


@dataclass(frozen=True)
class DBGenConfig:
    n: int = 400
    seed: int = 0
    heldout_fraction: float = 0.1
    explore_p: float = 0.3  # share of trajectories that inspect the table before the real query
    recover_p: float = 0.15  # share that first hit an SQL error and recover from it
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    questions_per_table: int = 3


@dataclass
class Generated:
    task: DBTask
    messages: list[dict[str, str]]
    heldout: bool


def add_description(table: Table) -> str:
    return (f"The name of this table is {table.name}, and the headers of this table are "
            f"{','.join(c.name for c in table.columns)}.")


def to_task(table: Table, question: Question, index: int) -> DBTask:
    mutating = question.type in ("INSERT", "UPDATE", "DELETE")
    return DBTask(index=index, description=question.description, add_description=add_description(table),
                  type=question.type, table_name=table.name, columns=[c.name for c in table.columns],
                  rows=[list(r) for r in table.rows], label=question.sql if mutating else question.label,
                  extra={"sql": {"query": question.sql[0]}, "source": "agentbench-tuning generator"})


def gold_hash(backend: Backend, task: DBTask) -> str:
    """Run the gold SQL on a fresh copy of the table and fingerprint it as the v0.2 grader does."""
    backend.open(task)
    try:
        for sql in task.label:
            backend.execute(sql)
        return backend.table_hash(task)
    finally:
        backend.close_episode()


_LOOK = ("Let me first look at a few rows to see how the values are written.",
         "Before writing the query I will check a few rows of the table.",
         "I will start by looking at some rows.")
_DONE = ("The table has been changed as requested.", "The change is made, so I can finish.",
         "The statement ran without errors; the task is done.")
_ANSWER = ("The result answers the question.", "This output gives the answer.", "I have what I need.")


def quoted_answer(values: list[str]) -> str:
    """A double-quoted list, the form the instruction shows (`["ANSWER1", ...]`)."""
    return "Final Answer: " + json.dumps(values, ensure_ascii=False)


def expert_turns(task: DBTask, plan: str, rng: random.Random, cfg: DBGenConfig) -> list[str]:
    """Scripted expert turns: explain, optionally explore or hit an error, one SQL per turn, answer."""
    gold = task.label if task.mutating else [task.extra["sql"]["query"]]
    turns: list[str] = []
    if rng.random() < cfg.explore_p:
        turns.append(operation_turn(f"SELECT * FROM {q(task.table_name)} LIMIT 3;", rng.choice(_LOOK)))
    if rng.random() < cfg.recover_p:
        wrong = task.columns[-1] + " value"
        turns.append(operation_turn(f"SELECT {q(wrong)} FROM {q(task.table_name)} LIMIT 1;",
                                    f"I will check the {wrong} column first."))
        plan = "That column does not exist; the headers are " + ", ".join(task.columns) + ". " + plan
    for i, sql in enumerate(gold):
        turns.append(operation_turn(sql, plan if i == 0 else "Next statement."))
    if task.mutating:
        if rng.random() < 0.3:
            turns.append(operation_turn(f"SELECT COUNT(*) FROM {q(task.table_name)};",
                                        "Let me check the table after the change."))
        turns.append(f"{rng.choice(_DONE)}\nAction: Answer\n{quoted_answer(['done'])}")
    else:
        turns.append(f"{rng.choice(_ANSWER)}\nAction: Answer\n{quoted_answer([str(v) for v in task.label])}")
    return turns


def play_expert(env: DBBenchEnv, task: DBTask, turns: list[str]) -> tuple[list[dict[str, Any]], bool]:
    """Play the expert's turns; (messages, whether the grader accepts the episode).

    Masks come from the environment, not the text: the injected "Ok." and every turn whose statement raised an
    SQL error (`info["action_failed"]`: the expert's deliberate mistakes) get `loss: False`, on every backend.
    An observation the SQLite backend cannot vouch reads as on MariaDB raises `NotReproducible` instead of
    being kept.
    """
    env.reset(task)
    masked = {1}
    for turn in turns:
        at = len(env.messages)  # where this assistant turn lands
        result = env.step(turn)
        if result.info["action_failed"]:
            masked.add(at)
        if result.done:
            if env.backend.inexact:
                raise NotReproducible(f"sample {task.index} ({task.type}): the {env.backend.name} backend cannot vouch "
                                   f"that these observations read as on MariaDB: {env.backend.inexact}; generate "
                                   "with --backend mysql, or keep the expert's SQL to what docs/dbbench.md lists")
            messages: list[dict[str, Any]] = [dict(m) for m in env.messages]
            for i in masked:
                messages[i]["loss"] = False
            return messages, bool(result.info["verdict"])
    raise RuntimeError(f"sample {task.index}: expert turns ended before the episode did")


def _pick_type(rng: random.Random, mix: dict[str, float]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _heldout(table_name: str, fraction: float) -> bool:
    return int(hashlib.md5(table_name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def generate(cfg: DBGenConfig, backend: Backend, max_attempts_factor: int = 20) -> list[Generated]:
    """`cfg.n` samples whose expert trajectory the grader accepts on `backend`."""
    rng = random.Random(cfg.seed)
    env = DBBenchEnv(backend)
    out: list[Generated] = []
    seen: set[tuple[str, str]] = set()
    attempts = skipped = 0
    while len(out) < cfg.n:
        attempts += 1
        if attempts > cfg.n * max_attempts_factor:
            raise RuntimeError(f"only {len(out)} of {cfg.n} samples after {attempts} attempts; check the type mix")
        table = random_table(rng)
        for _ in range(cfg.questions_per_table):
            question = BUILDERS[_pick_type(rng, cfg.mix)](table, rng)
            if question is None or (table.name, question.description) in seen or len(out) >= cfg.n:
                continue
            seen.add((table.name, question.description))
            task = to_task(table, question, len(out))
            if task.mutating:
                task.answer_md5 = gold_hash(backend, task)
            turns = expert_turns(task, question.plan, rng, cfg)
            try:
                messages, ok = play_expert(env, task, turns)
            except NotReproducible:
                skipped += 1  # an observation SQLite cannot vouch for: never emitted, another sample is drawn
                continue
            task.extra["expert_turns"] = turns
            if not ok:
                raise RuntimeError(f"expert trajectory for generated sample {task.index} ({task.type}) failed "
                                   f"on {backend.name}: {messages[-1]['content'][:200]}")
            out.append(Generated(task, messages, _heldout(table.name, cfg.heldout_fraction)))
    return out


def write_generated(samples: list[Generated], out_dir: str | Path, stats: dict[str, Any]) -> dict[str, Path]:
    """Write the v0.2-format sample files and the SFT conversations for both splits (indices renumbered)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, keep in (("train", False), ("heldout", True)):
        chosen = [s for s in samples if s.heldout == keep]
        paths[split] = out / f"{split}.jsonl"
        paths[f"sft_{split}"] = out / f"sft_{split}.jsonl"
        write_jsonl(paths[split], [s.task.to_sample() for s in chosen])
        write_jsonl(paths[f"sft_{split}"], [{"index": i, "type": s.task.type, "messages": s.messages, "task": "dbbench",
                                              "task_type": s.task.type, "source": f"dbbench/{s.task.type}"}
                                             for i, s in enumerate(chosen)])
    write_json_atomic(out / "stats.json", stats)
    return paths
