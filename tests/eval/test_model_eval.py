"""`eval.runner.evaluate` end to end on a tiny random Qwen with the transformers engine (what the CLI runs)."""

from __future__ import annotations

import json

import pytest

from agentbench_tuning.config import (
    ConfigError,
    EvalRunConfig,
    EvalSettings,
    ModelConfig,
    RolloutSettings,
    Sampling,
)
from agentbench_tuning.eval.runner import evaluate
from agentbench_tuning.records import read_records


def test_tiny_model_eval_writes_records_summary_and_metadata(tmp_path, tiny_model_dirs):
    cfg = EvalRunConfig(
        ModelConfig(name_or_path=str(tiny_model_dirs["qwen3-2507"])),
        RolloutSettings(engine="transformers", sampling=Sampling(temperature=0.7, max_new_tokens=4)),
        EvalSettings(benchmark="alfworld-sim", agent="model", games=3, seeds=[0, 1], out=str(tmp_path)),
    )
    result = evaluate(cfg)
    records = list(read_records(tmp_path / "records.jsonl"))
    assert sorted((r["index"], r["seed"]) for r in records) == [(i, s) for i in range(3) for s in (0, 1)]
    # A random-weight model never writes "ACTION:" in 4 tokens: every episode ends after its first turn.
    assert {r["status"] for r in records} == {"agent invalid action"}
    assert all(r["completion_tokens"] == 4 and r["finish_reasons"] == ["length"] for r in records)
    assert all(r["agent"] == "model" and sum(m.get("sampled", False) for m in r["messages"]) == 1 for r in records)
    assert result.summary["score"]["mean"] == 0.0 and result.summary["tokens"]["completion"] == 24
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["seeds"] == [0, 1] and meta["config"]["eval_config"]["rollout"]["engine"] == "transformers"
    identity = json.loads((tmp_path / "identity.json").read_text())
    assert identity["dtype"] == "auto" and identity["sampling"]["temperature"] == 0.7


def test_cli_model_options():
    from agentbench_tuning.cli.eval import build_eval_config

    cfg = build_eval_config(None, ["eval.benchmark=dbbench"], {"model": "m", "engine": "transformers",
                                                               "seeds": "0,1,2", "out": "x"})
    assert (cfg.eval.seeds, cfg.rollout.sampling.max_new_tokens, cfg.rollout.limits.max_context) == ([0, 1, 2], 512, 8192)
    with pytest.raises(ConfigError, match="needs model.name_or_path"):
        build_eval_config(None, [], {"model": "", "out": "x"})
    with pytest.raises(ConfigError, match="only used with engine openai"):
        build_eval_config(None, [], {"model": "m", "engine": "vllm", "base_url": "http://x", "out": "x"})
