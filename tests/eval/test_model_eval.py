"""`evaluate_with_options` end to end on a tiny random Qwen with the transformers engine (what the CLIs run)."""

from __future__ import annotations

import json

from toy import ToyEnv

from agentbench_tuning.eval.records import read_records
from agentbench_tuning.eval.runner import evaluate_with_options
from agentbench_tuning.rollout.engines import ModelOptions
from agentbench_tuning.rollout.episodes import EpisodeSpec


def test_tiny_model_eval_writes_records_summary_and_metadata(tmp_path, tiny_model_dirs):
    opts = ModelOptions(model=str(tiny_model_dirs["qwen3-2507"]), engine="transformers", seeds=(0, 1),
                        max_new_tokens=4)
    specs = [EpisodeSpec(i, {"word": w}, type="fruit") for i, w in enumerate(["apple", "pear", "fig"])]
    summary = evaluate_with_options(opts, lambda: ToyEnv(max_rounds=2), specs, tmp_path)
    records = list(read_records(tmp_path / "records.jsonl"))
    assert sorted((r["index"], r["seed"]) for r in records) == [(i, s) for i in range(3) for s in (0, 1)]
    # A random-weight model never says the word: every episode uses both rounds of 4 tokens each.
    assert {r["status"] for r in records} == {"task limit reached"}
    assert all(r["completion_tokens"] == 8 and r["finish_reasons"] == ["length", "length"] for r in records)
    assert summary["score"]["mean"] == 0.0 and summary["tokens"]["completion"] == 48
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["seeds"] == [0, 1] and meta["config"]["model_options"]["engine"] == "transformers"


def test_cli_model_options():
    import pytest
    import typer

    from agentbench_tuning.cli import model_options

    opts = model_options("m", "transformers", None, None, "0,1,2", 0.0)
    assert (opts.seeds, opts.max_new_tokens, opts.max_context) == ((0, 1, 2), 512, 8192)
    with pytest.raises(typer.BadParameter, match="--agent model needs --model"):
        model_options(None, "vllm", None, None, "0", 0.0)
    with pytest.raises(typer.BadParameter, match="--base-url is only used with --engine openai"):
        model_options("m", "vllm", None, "http://x", "0", 0.0)
