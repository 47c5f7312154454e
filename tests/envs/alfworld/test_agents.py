"""ALFWorld's scripted agents through the shared runner: records, resumption, replay re-grading, SFT data."""

from __future__ import annotations

from agentbench_tuning import rewards
from agentbench_tuning.config import EvalRunConfig, EvalSettings, ModelConfig
from agentbench_tuning.data.generated import (
    alfworld_failures,
    alfworld_listed_conversations,
    alfworld_step_pairs,
    alfworld_step_samples,
    generated_sft,
)
from agentbench_tuning.envs.alfworld import AlfworldEnv, ExpertAgent, ReplayAgent, sim_tasks
from agentbench_tuning.eval.runner import evaluate
from agentbench_tuning.records import read_records, sampled_turns
from agentbench_tuning.rollout.scripted import play_episode


def _cfg(tmp_path, agent="expert", games=6, **extra):
    return EvalRunConfig(ModelConfig(name_or_path=""), eval=EvalSettings(
        benchmark="alfworld-sim", agent=agent, games=games, out=str(tmp_path), **extra))


def test_expert_eval_writes_records_and_resumes(tmp_path):
    result = evaluate(_cfg(tmp_path, limit=3))
    assert result.summary["n_items"] == 3 and result.summary["score"]["mean"] == 1.0
    evaluate(_cfg(tmp_path))  # the same run without the limit: resumes, plays indices 3..5 only
    records = list(read_records(tmp_path / "records.jsonl"))
    assert sorted(r["index"] for r in records) == [0, 1, 2, 3, 4, 5]
    first = records[0]
    assert first["agent"] == "expert" and first["benchmark"] == "alfworld-sim" and first["success"]
    assert first["messages"][0]["role"] == "user" and first["info"]["game"].startswith("sim/")


def test_replay_of_records_regrades_the_same(tmp_path):
    evaluate(_cfg(tmp_path / "expert", games=2))
    records = {r["index"]: r for r in read_records(tmp_path / "expert" / "records.jsonl")}
    # The agent's own turns are flagged; the acknowledgement and the 1-shot example's turns are not.
    assert all(m["content"].startswith("THOUGHT") or "ACTION" in m["content"] for m in
               records[0]["messages"] if m.get("sampled"))
    assert sum(1 for m in records[0]["messages"] if m.get("sampled")) == records[0]["turns"]
    evaluate(_cfg(tmp_path / "replay", agent="replay", games=2,
                  responses=str(tmp_path / "expert" / "records.jsonl")))
    replayed = {r["index"]: r for r in read_records(tmp_path / "replay" / "records.jsonl")}
    for index, record in records.items():
        assert replayed[index]["status"] == record["status"] and replayed[index]["success"] == record["success"]
        assert sampled_turns(replayed[index]) == sampled_turns(record)


def test_truncated_replay_ends_as_invalid_action():
    task = sim_tasks(1)[0]
    turns = sampled_turns(play_episode(ExpertAgent(), AlfworldEnv(), task))
    record = play_episode(ReplayAgent({0: turns[:2]}), AlfworldEnv(), task)
    assert record["status"] == "agent invalid action" and record["info"]["steps"] == 2 and not record["success"]


def test_sft_conversations_end_with_the_winning_turn():
    [conv] = generated_sft("alfworld-sim", 1, seed=0)
    assert conv["won"] and conv["messages"][-1]["role"] == "assistant"
    roles = [m["role"] for m in conv["messages"]]
    assert roles == ["user", "assistant"] * (len(roles) // 2)
    # Context turns (acknowledgement, the example's answers) are never trained; every expert turn is.
    task_turn = next(i for i, m in enumerate(conv["messages"]) if m["content"].startswith("Here is your task."))
    assert all(m["loss"] is False for m in conv["messages"][:task_turn] if m["role"] == "assistant")
    assert all(m["loss"] is True for m in conv["messages"][task_turn:] if m["role"] == "assistant")
    assert sum("AVAILABLE ACTIONS" in m["content"] for m in conv["messages"]) == 0


def test_step_samples_are_the_prompts_as_sent():
    samples = list(alfworld_step_samples(1, seed=0))
    [conv] = generated_sft("alfworld-sim", 1, seed=0)
    assert len(samples) == conv["steps"]
    for s in samples:  # the newest user turn, and only it, carries the action list
        assert s["messages"][-1]["role"] == "assistant" and "AVAILABLE ACTIONS" in s["messages"][-2]["content"]
        assert sum("AVAILABLE ACTIONS" in m["content"] for m in s["messages"]) == 1
        # only the newest answer is trained: the earlier ones were trained in their own samples
        assert [m.get("loss") for m in s["messages"] if m["role"] == "assistant"][-1] is True
        assert not any(m["loss"] for m in s["messages"][:-1] if m["role"] == "assistant")
    assert samples[-1]["messages"][-1]["content"] == conv["messages"][-1]["content"]
    assert len(samples[-1]["messages"]) == len(conv["messages"])


def test_listed_conversations_keep_every_action_list():
    [listed] = alfworld_listed_conversations(1, seed=0)
    samples = list(alfworld_step_samples(1, seed=0))
    messages = listed["messages"]
    trained = [m for m in messages if m["role"] == "assistant" and m["loss"]]
    assert [m["content"] for m in trained] == [s["messages"][-1]["content"] for s in samples]
    # each expert answer follows exactly the user turn its step sample was prompted with
    for sample in samples:
        k = len(sample["messages"]) - 1
        assert messages[k - 1] == sample["messages"][-2]
        assert messages[k]["content"] == sample["messages"][-1]["content"]
    listed_turns = [m for m in messages if "AVAILABLE ACTIONS" in m["content"]]
    assert len(listed_turns) == len(samples) == listed["steps"]


def test_failures_and_dpo_pairs():
    fails = list(alfworld_failures(6, seed=0))
    assert fails and not any(f["won"] for f in fails)
    pairs = list(alfworld_step_pairs(1, seed=0))
    assert pairs and all(p["chosen"] != p["rejected"] and p["prompt"][-1]["role"] == "user" for p in pairs)
    assert all("AVAILABLE ACTIONS" in p["prompt"][-1]["content"] for p in pairs)


def test_rewards():
    assert rewards.alfworld_success(["a", "b"], won=[True, False]) == [1.0, 0.0]
    assert rewards.alfworld_valid_action(["a"], valid_action_fraction=[0.5]) == [0.5]
    assert rewards.alfworld_progress(["a"], progress=[0.5]) == [0.5]


def test_gen_sources_name_every_alfworld_format():
    import pytest

    from agentbench_tuning.training.sft_data import load_sources

    listed, steps, recorded = (load_sources([f"gen:{name}:2:0"]) for name in ("alfworld-listed", "alfworld-steps", "alfworld"))
    assert len(listed) == len(recorded) == 2 and len(steps) == sum(c["steps"] for c in listed)
    messages = listed[0]["messages"]
    task_turn = next(i for i, m in enumerate(messages) if m["content"].startswith("Here is your task."))
    assert all("AVAILABLE ACTIONS" in m["content"] for m in messages[task_turn::2])
    assert not any("AVAILABLE ACTIONS" in m["content"] for m in messages[:task_turn])
    with pytest.raises(ValueError, match="alfworld-listed"):
        load_sources(["gen:alfworld-lists:2"])
