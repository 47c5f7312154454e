"""`abtune eval alfworld` and `abtune data alfworld-gen` end to end on the simulator."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agentbench_tuning.cli import app

runner = CliRunner()


def test_eval_expert_then_replay(tmp_path):
    result = runner.invoke(app, ["eval", "alfworld", "--games", "6", "--out", str(tmp_path / "expert")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "expert/summary.json").read_text())["success"]["rate"] == 1.0
    # Replay: index 0 plays its expert outputs; index 1 answers without ACTION.
    from agentbench_tuning.records import read_records, sampled_turns

    rec = next(r for r in read_records(tmp_path / "expert/records.jsonl") if r["index"] == 0)
    turns = sampled_turns(rec)
    replay = tmp_path / "replay.jsonl"
    replay.write_text(
        json.dumps({"index": 0, "turns": turns}) + "\n" + json.dumps({"index": 1, "turns": ["hi"]}) + "\n"
    )
    result = runner.invoke(
        app,
        [
            "eval",
            "alfworld",
            "--games",
            "2",
            "--agent",
            "replay",
            "--replay",
            str(replay),
            "--out",
            str(tmp_path / "replay"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "replay/summary.json").read_text())
    assert summary["success"]["rate"] == 0.5 and summary["status"] == {"agent invalid action": 0.5, "completed": 0.5}
    # DB Bench's flag name works too, so one replay habit serves both harnesses.
    again = runner.invoke(app, ["eval", "alfworld", "--games", "2", "--agent", "replay", "--responses", str(replay),
                                "--out", str(tmp_path / "replay2")])
    assert again.exit_code == 0, again.output
    again_summary = json.loads((tmp_path / "replay2/summary.json").read_text())
    assert again_summary["success"] == summary["success"] and again_summary["status"] == summary["status"]


def test_eval_textworld_needs_a_source(tmp_path):
    result = runner.invoke(app, ["eval", "alfworld", "--env", "textworld", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "--game-dir" in result.output


def test_data_gen(tmp_path):
    out = tmp_path / "sft.jsonl"
    result = runner.invoke(
        app,
        [
            "data",
            "alfworld-gen",
            "--games",
            "6",
            "--out",
            str(out),
            "--failures",
            str(tmp_path / "f.jsonl"),
            "--dpo",
            str(tmp_path / "d.jsonl"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6 and all(r["won"] for r in rows)
    assert len({r["task_type"] for r in rows}) == 6


def test_data_gen_listed(tmp_path):
    out = tmp_path / "listed.jsonl"
    result = runner.invoke(app, ["data", "alfworld-gen", "--games", "2", "--listed", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and all(sum("AVAILABLE ACTIONS" in m["content"] for m in r["messages"]) == r["steps"]
                                  for r in rows)
    both = runner.invoke(app, ["data", "alfworld-gen", "--listed", "--per-step", "--out", str(out)])
    assert both.exit_code == 2 and "choose one" in both.output


def test_eval_textworld_game_dir(tmp_path):
    import pytest

    from agentbench_tuning.envs.alfworld import build_test_game, engine_missing

    if engine_missing():
        pytest.skip(engine_missing())
    build_test_game(tmp_path / "games")
    result = runner.invoke(
        app,
        [
            "eval",
            "alfworld",
            "--env",
            "textworld",
            "--game-dir",
            str(tmp_path / "games"),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["success"]["rate"] == 1.0 and list(summary["per_type"]) == ["pick_and_place_simple"]
