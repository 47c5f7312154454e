"""The transformers model agent runs an episode end to end on a tiny random Qwen (its text is junk)."""

from __future__ import annotations

import pytest

from agentbench_tuning.envs.dbbench import DBBenchEnv, SQLiteBackend, TransformersAgent, run_episode


@pytest.mark.slow
def test_tiny_model_episode(tiny_model_dirs, towns):
    agent = TransformersAgent(tiny_model_dirs["qwen2.5"], max_new_tokens=4)
    record = run_episode(DBBenchEnv(SQLiteBackend()), towns, agent.factory)
    # Four random tokens cannot contain "Action: Operation\n" plus a sql block, nor "\nFinal Answer:".
    assert record["status"] == "agent validation failed" and record["verdict"] is False
    assert record["transcript"][3]["role"] == "assistant" and len(record["transcript"]) == 4
