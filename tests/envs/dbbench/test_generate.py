"""The generator: >= 300 samples the oracle scores 100% on SQLite and on MariaDB, identical hashes, identical
transcripts turn by turn on both backends, and the expert's deliberate mistakes never trained."""

from __future__ import annotations

import json
import re

import pytest

from agentbench_tuning.envs.dbbench import (
    DBBenchEnv,
    MySQLBackend,
    SQLiteBackend,
    load_tasks,
)
from agentbench_tuning.envs.dbbench.generate import (
    DBGenConfig,
    generate,
    gold_hash,
    play_expert,
    write_generated,
)
from agentbench_tuning.envs.dbbench.sqlite_mysql import NotReproducible

N = 320


@pytest.fixture(scope="module")
def generated():
    return generate(DBGenConfig(n=N, seed=7), SQLiteBackend())


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
    a = generate(DBGenConfig(n=30, seed=3), SQLiteBackend())
    b = generate(DBGenConfig(n=30, seed=3), SQLiteBackend())
    assert [x.task.to_sample() for x in a] == [x.task.to_sample() for x in b]
    assert [x.messages for x in a] == [x.messages for x in b]


def test_expert_trajectories_use_v02_turns(generated):
    recoveries = 0
    for s in generated:
        assert s.messages[1] == {"role": "assistant", "content": "Ok.", "loss": False}
        assert [m["role"] for m in s.messages[2:]] == ["user", "assistant"] * ((len(s.messages) - 2) // 2)
        assert "\nAction: Answer\nFinal Answer: [" in s.messages[-1]["content"]
        recoveries += any(m["content"].startswith("1054 (42S22): Unknown column ") for m in s.messages[4::2])
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


def error_followed(messages) -> list[int]:
    """Indices of assistant turns whose next observation is an SQL error in MySQL's format."""
    return [i for i, m in enumerate(messages[:-1])
            if m["role"] == "assistant" and re.match(r"\d{4} \([0-9A-Z]{5}\): ", messages[i + 1]["content"])]


def test_every_error_followed_turn_is_masked_sqlite(generated):
    from agentbench_tuning.data.generated import generated_sft

    # The SFT data source (the expert played by the shared runner) and the generator's own files alike.
    conversations = [c["messages"] for c in generated_sft("dbbench", 60, seed=1)] + [s.messages for s in generated]
    assert sum(len(error_followed(m)) for m in conversations) > 20  # the expert does make mistakes
    for messages in conversations:
        # every error-followed turn is masked, and nothing else but the injected "Ok."
        assert [i for i, m in enumerate(messages) if m.get("loss") is False] == [1, *error_followed(messages)]


def test_mask_comes_from_the_environment_flag(towns):
    # A turn whose *text* looks like no error but whose statement fails is masked; a successful one is not.
    env = DBBenchEnv(SQLiteBackend())
    turns = ["x\nAction: Operation\n```sql\nSELECT `Nope` FROM `Towns of Vell (2020)`;\n```",
             "y\nAction: Operation\n```sql\nSELECT 1;\n```", 'z\nAction: Answer\nFinal Answer: ["Cor d\'Ine"]']
    messages, ok = play_expert(env, towns, turns)
    assert ok and [m.get("loss") for m in messages if m["role"] == "assistant"] == [False, False, None, None]


def test_play_expert_refuses_observations_sqlite_cannot_vouch_for(towns):
    env = DBBenchEnv(SQLiteBackend())
    turns = ["x\nAction: Operation\n```sql\nSELECT LENGTH(`Town`) + 0.5 * 2 FROM `Towns of Vell (2020)`;\n```",
             "x\nAction: Operation\n```sql\nSELECT STR_TO_DATE(`Founded`, '%M %d, %Y') FROM `Towns of Vell (2020)`;\n```",
             'z\nAction: Answer\nFinal Answer: ["Cor d\'Ine"]']
    with pytest.raises(NotReproducible, match="cannot vouch.*STR_TO_DATE"):
        play_expert(env, towns, turns)


@pytest.mark.mysql
def test_sqlite_and_mariadb_transcripts_identical_turn_by_turn(generated, mysql_url):
    backend = MySQLBackend(mysql_url)
    try:
        on_mysql = generate(DBGenConfig(n=N, seed=7), backend)
    finally:
        backend.close()
    assert [s.task.to_sample() for s in on_mysql] == [s.task.to_sample() for s in generated]
    differing = [(s.task.index, i, a, b) for s, t in zip(generated, on_mysql, strict=True)
                 for i, (a, b) in enumerate(zip(s.messages, t.messages, strict=True)) if a != b]
    assert differing == []
    assert sum(len(error_followed(s.messages)) for s in on_mysql) > N * 0.05
    for s in on_mysql:
        assert [i for i, m in enumerate(s.messages) if m.get("loss") is False] == [1, *error_followed(s.messages)]
    assert any("Decimal('" in m["content"] for s in on_mysql for m in s.messages)  # the values are compared too
