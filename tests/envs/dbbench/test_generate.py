"""The generator: >= 300 samples the oracle scores 100% on SQLite and on MariaDB, and identical hashes."""

from __future__ import annotations

import json

import pytest

from agentbench_tuning.envs.dbbench import (
    DBBenchEnv,
    MySQLBackend,
    SQLiteBackend,
    load_tasks,
)
from agentbench_tuning.envs.dbbench.generate import GenConfig, generate, gold_hash, write_generated

N = 320


@pytest.fixture(scope="module")
def generated():
    return generate(GenConfig(n=N, seed=7), SQLiteBackend())


def test_generated_set_is_complete_and_deduplicated(generated):
    assert len(generated) == N
    types = {s.task.type for s in generated}
    assert types == {"other", "counting", "comparison", "ranking", "aggregation-SUM", "aggregation-MIN",
                     "aggregation-MAX", "aggregation-AVG", "INSERT", "UPDATE", "DELETE"}
    keys = [(s.task.table_name, s.task.description) for s in generated]
    assert len(set(keys)) == N
    assert 0 < sum(s.heldout for s in generated) < N
    held = {s.task.table_name for s in generated if s.heldout}
    assert not held & {s.task.table_name for s in generated if not s.heldout}  # split by table


def test_same_seed_same_data():
    a = generate(GenConfig(n=30, seed=3), SQLiteBackend())
    b = generate(GenConfig(n=30, seed=3), SQLiteBackend())
    assert [x.task.to_sample() for x in a] == [x.task.to_sample() for x in b]
    assert [x.messages for x in a] == [x.messages for x in b]


def test_expert_trajectories_use_v02_turns(generated):
    recoveries = 0
    for s in generated:
        assert s.messages[1] == {"role": "assistant", "content": "Ok."}
        assert [m["role"] for m in s.messages[2:]] == ["user", "assistant"] * ((len(s.messages) - 2) // 2)
        assert "\nAction: Answer\nFinal Answer: [" in s.messages[-1]["content"]
        recoveries += any(m["content"].startswith("no such column") for m in s.messages[4::2])
    assert recoveries > N * 0.05  # a share recovers from an SQL error


def test_written_files_load_and_oracle_scores_100_on_sqlite(generated, tmp_path):
    paths = write_generated(generated, tmp_path / "gen", {"n": N})
    tasks = load_tasks(paths["train"]) + load_tasks(paths["heldout"])
    for i, t in enumerate(tasks):
        t.index = i
    assert len(tasks) == N
    first = json.loads(paths["sft_train"].read_text().splitlines()[0])
    assert first["messages"][0]["role"] == "user"
    summary = _oracle(tasks, SQLiteBackend(), tmp_path / "run")
    assert summary["overall_cat_accuracy"] == 1.0 and summary["status"] == {"completed": 1.0}
    assert summary["SELECT"] == 1.0


@pytest.mark.mysql
def test_mariadb_hashes_equal_sqlite_and_oracle_scores_100(generated, mysql_url, tmp_path):
    backend = MySQLBackend(mysql_url)
    try:
        mutating = [s.task for s in generated if s.task.mutating]
        assert all(gold_hash(backend, t) == t.answer_md5 for t in mutating)
        summary = _oracle([s.task for s in generated], backend, tmp_path / "run")
    finally:
        backend.close()
    assert summary["overall_cat_accuracy"] == 1.0 and summary["status"] == {"completed": 1.0}


def _oracle(tasks, backend, out):
    """The oracle over `tasks` through the shared runner; DB Bench's score of its records."""
    from agentbench_tuning.envs.base import EpisodeSpec
    from agentbench_tuning.envs.benchmarks import dbbench_score
    from agentbench_tuning.envs.dbbench import OracleAgent
    from agentbench_tuning.eval.stats import status_fractions
    from agentbench_tuning.rollout.scripted import play_scripted

    env = DBBenchEnv(backend)
    records = play_scripted(OracleAgent, lambda: env, [EpisodeSpec(t.index, t, t.type) for t in tasks],
                            concurrency=1)
    return {**dbbench_score(records), "status": status_fractions(records)}
