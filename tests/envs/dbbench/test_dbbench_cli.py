"""The DB Bench CLI commands: generate, evaluate (oracle, replay; resumable), and the managed server."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentbench_tuning.cli import app
from agentbench_tuning.envs.dbbench import DBBenchEnv, SQLiteBackend

runner = CliRunner()


@pytest.fixture(scope="module")
def gen_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    result = runner.invoke(app, ["data", "dbbench-gen", "--out", str(out), "--n", "40", "--seed", "1"])
    assert result.exit_code == 0, result.output
    return out


def test_generate_writes_both_splits(gen_dir):
    stats = json.loads((gen_dir / "stats.json").read_text())
    train = (gen_dir / "train.jsonl").read_text().splitlines()
    held = (gen_dir / "heldout.jsonl").read_text().splitlines()
    assert stats["n"] == 40 == len(train) + len(held)
    sft = [json.loads(line) for line in (gen_dir / "sft_train.jsonl").read_text().splitlines()]
    assert len(sft) == len(train)
    # the task label drives the stratified split and the data summary (it used to read "tasks: (none)")
    assert {row["task"] for row in sft} == {"dbbench"} and all(row["source"] == f"dbbench/{row['type']}" for row in sft)


def test_eval_oracle_then_resume(gen_dir, tmp_path):
    args = ["eval", "dbbench", "--data", str(gen_dir / "train.jsonl"), "--out", str(tmp_path), "--limit", "10"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "overall_cat_accuracy" in first.output and "100.0 ± 0.0" in first.output
    records = (tmp_path / "records.jsonl").read_text().splitlines()
    assert len(records) == 10
    second = runner.invoke(app, args[:-1] + ["12"])  # two more samples: only those run
    assert second.exit_code == 0, second.output
    indices = [json.loads(line)["index"] for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert sorted(indices) == list(range(12)) and set(indices[10:]) == {10, 11}
    assert json.loads((tmp_path / "summary.json").read_text())["n_episodes"] == 12


def test_eval_replay(gen_dir, tmp_path):
    responses = tmp_path / "r.jsonl"
    # index 0 answers junk without a newline before Final Answer; index 1 is missing (an empty reply).
    responses.write_text(json.dumps({"index": 0, "turns": ["Final Answer: []"]}) + "\n")
    result = runner.invoke(app, ["eval", "dbbench", "--data", str(gen_dir / "train.jsonl"), "--agent", "replay",
                                 "--responses", str(responses), "--out", str(tmp_path / "o"), "--limit", "2"])
    assert result.exit_code == 0, result.output
    recs = sorted((json.loads(x) for x in (tmp_path / "o" / "records.jsonl").read_text().splitlines()),
                  key=lambda r: r["index"])
    assert [(r["status"], r["verdict"]) for r in recs] == [("agent validation failed", False)] * 2


def test_eval_replay_needs_responses(gen_dir, tmp_path):
    result = runner.invoke(app, ["eval", "dbbench", "--data", str(gen_dir / "train.jsonl"), "--agent", "replay",
                                 "--out", str(tmp_path)])
    assert result.exit_code != 0 and "--responses" in result.output


def test_context_limit_ends_episode(towns):
    env = DBBenchEnv(SQLiteBackend())
    env.reset(towns)
    result = env.context_limit()
    assert result.done and (result.info["status"], result.info["verdict"]) == ("agent context limit", False)


@pytest.mark.mysql
def test_db_start_status_stop(tmp_path):
    from agentbench_tuning.envs.dbbench import server

    if not server.binaries_available():
        pytest.skip("MariaDB binaries not installed")
    data = str(tmp_path / "db")
    try:
        started = runner.invoke(app, ["db", "start", "--dir", data])
        assert started.exit_code == 0 and started.output.startswith("mysql://abtune:")
        status = runner.invoke(app, ["db", "status", "--dir", data])
        assert status.exit_code == 0 and status.output.startswith(started.output.strip())
        assert runner.invoke(app, ["db", "start", "--dir", data]).output == started.output  # already running
    finally:
        stopped = runner.invoke(app, ["db", "stop", "--dir", data])
    assert stopped.output.strip() == "stopped"
    assert runner.invoke(app, ["db", "status", "--dir", data]).exit_code == 1
