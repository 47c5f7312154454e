"""Evaluation loop: records, resumption, replay re-grading, summary statistics, SFT data, rewards."""

from __future__ import annotations

import json

from agentbench_tuning import rewards
from agentbench_tuning.envs.alfworld import (
    ExpertAgent,
    ReplayAgent,
    dpo_pairs,
    evaluate,
    expert_conversations,
    expert_step_samples,
    failure_conversations,
    sim_tasks,
    summarize,
)
from agentbench_tuning.eval.records import read_records


def test_summarize_hand_worked():
    records = [
        {"task_type": "a", "won": True, "status": "completed", "steps": 4},
        {"task_type": "a", "won": False, "status": "task limit reached", "steps": 35},
        {"task_type": "b", "won": False, "status": "agent invalid action", "steps": 1},
        {"task_type": "b", "won": True, "status": "completed", "steps": 8},
    ]
    assert summarize(records) == {
        "n": 4,
        "success": 0.5,
        "per_task_type": {"a": {"n": 2, "success": 0.5}, "b": {"n": 2, "success": 0.5}},
        "status": {"agent invalid action": 0.25, "completed": 0.5, "task limit reached": 0.25},
        "mean_steps": 12.0,
    }
    assert summarize([])["success"] == 0.0


def test_expert_eval_writes_records_and_resumes(tmp_path):
    tasks = sim_tasks(6)
    summary = evaluate(tasks[:3], ExpertAgent(), tmp_path)
    assert summary["n"] == 3 and summary["success"] == 1.0
    summary = evaluate(tasks, ExpertAgent(), tmp_path)  # resumes: only indices 3..5 are played
    records = list(read_records(tmp_path / "records.jsonl"))
    assert [r["index"] for r in records] == [0, 1, 2, 3, 4, 5]
    assert summary["n"] == 6 and json.loads((tmp_path / "summary.json").read_text()) == summary
    first = records[0]
    assert set(first) >= {"index", "game", "transcript", "task_type", "status", "steps", "won"}
    assert first["transcript"][0]["role"] == "user"


def test_replay_regrades_expert_outputs(tmp_path):
    tasks = sim_tasks(2)
    convs = list(expert_conversations(tasks))
    replay = {}
    # The model outputs are the assistant turns after the task turn (instruction, ack, example come first).
    for c in convs:
        start = next(i for i, m in enumerate(c["messages"]) if m["content"].startswith("Here is your task."))
        replay[c["index"]] = [m["content"] for m in c["messages"][start + 1 :: 2]]
    replay[1] = replay[1][:2]  # truncated: the exhausted replay answers "" -> invalid action
    summary = evaluate(tasks, ReplayAgent(replay), tmp_path)
    records = list(read_records(tmp_path / "records.jsonl"))
    assert records[0]["won"] and records[0]["status"] == "completed"
    assert records[1]["status"] == "agent invalid action" and records[1]["steps"] == 2
    assert summary["success"] == 0.5


def test_sft_conversations_end_with_the_winning_turn():
    conv = next(expert_conversations(sim_tasks(1)))
    assert conv["won"] and conv["messages"][-1]["role"] == "assistant"
    roles = [m["role"] for m in conv["messages"]]
    assert roles == ["user", "assistant"] * (len(roles) // 2)
    # v0.2 removes each list once the model has answered, and the final observation is dropped: no list is
    # left in the finished conversation (each step's prompt had exactly one, in its newest user turn).
    assert sum("AVAILABLE ACTIONS" in m["content"] for m in conv["messages"]) == 0


def test_step_samples_are_the_prompts_as_sent():
    task = sim_tasks(1)[0]
    samples = list(expert_step_samples([task]))
    conv = next(expert_conversations([task]))
    assert len(samples) == conv["steps"]
    for s in samples:  # the newest user turn, and only it, carries the action list
        assert (
            s["messages"][-1]["role"] == "assistant" and "AVAILABLE ACTIONS" in s["messages"][-2]["content"]
        )
        assert sum("AVAILABLE ACTIONS" in m["content"] for m in s["messages"]) == 1
    # The last sample's prompt is the finished conversation up to the last output, with the list still shown.
    assert samples[-1]["messages"][-1] == conv["messages"][-1]
    assert len(samples[-1]["messages"]) == len(conv["messages"])


def test_failures_and_dpo_pairs():
    fails = list(failure_conversations(sim_tasks(6)))
    assert fails and not any(f["won"] for f in fails)
    pairs = dpo_pairs(sim_tasks(1)[0])
    assert pairs and all(p["chosen"] != p["rejected"] and p["prompt"][-1]["role"] == "user" for p in pairs)
    # Each prompt is the chat as sent at that step: its newest turn still shows the action list.
    assert all("AVAILABLE ACTIONS" in p["prompt"][-1]["content"] for p in pairs)


def test_rewards():
    assert rewards.alfworld_success(["a", "b"], won=[True, False]) == [1.0, 0.0]
    assert rewards.alfworld_valid_action(["a"], valid_action_fraction=[0.5]) == [0.5]
    assert rewards.alfworld_progress(["a"], progress=[0.5]) == [0.5]
