"""The whole pipeline on a model that is not Qwen: SmolLM2-135M-Instruct, named by the `smollm2` GGUF spec.
SFT trains exactly its assistant turns (its own template and ids, its injected system prompt masked), the
adapter exports to a plain checkpoint, and the evaluation generators open the spec and stop at its
end-of-turn token."""

from __future__ import annotations

import pytest
import torch

from agentbench_tuning.chat import IGNORE_INDEX
from agentbench_tuning.config import load_sft_config
from agentbench_tuning.training.sft import build_sft_trainer, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol_run(tmp_path_factory, sft_file):
    tmp_path = tmp_path_factory.mktemp("smol-sft")
    cfg = load_sft_config(
        None,
        [
            "model.name_or_path=smollm2",
            "model.dtype=float32",
            f"data.train=[{sft_file}]",
            "data.max_length=256",
            "data.eval_fraction=0.1",
            f"train.output_dir={tmp_path / 'run'}",
            "train.max_steps=4",
            "train.per_device_train_batch_size=4",
            "train.gradient_accumulation_steps=1",
            "train.learning_rate=2e-3",
            "train.warmup_ratio=0.0",
            "train.logging_steps=1",
            "train.eval_steps=100",
            "train.save_steps=100",
            "train.gradient_checkpointing=false",
            "train.precision=fp32",
            "lora.r=8",
            "lora.dropout=0.0",
        ],
    )
    setup = build_sft_trainer(cfg)
    row = setup.trainer.train_dataset[0]
    base = {n: p.detach().clone() for n, p in setup.trainer.model.named_parameters() if "lora_" not in n}
    result = train(setup, cfg)
    return setup.trainer, row, base, result


def test_sft_trains_exactly_smollm2s_assistant_turns(smol_run):
    trainer, row, base, result = smol_run
    tok = trainer.processing_class
    ids, labels = row["input_ids"], row["labels"]
    system = tok("<|im_start|>system\nYou are a helpful AI assistant named SmolLM", add_special_tokens=False)
    assert ids[: len(system["input_ids"])] == system["input_ids"]  # the template's injected default
    trained = [t for t, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX]
    assert all(label in (IGNORE_INDEX, t) for t, label in zip(ids, labels, strict=True))
    text = tok.decode(trained, skip_special_tokens=False)
    assert text.startswith("Action: Operation\n```sql\nSELECT ") and text.endswith('"]<|im_end|>')
    assert trained.count(2) == 2 and 1 not in trained  # two <|im_end|>, no <|im_start|>
    assert ids[-1] == 198 and labels[-1] == IGNORE_INDEX  # the "\n" after the last <|im_end|>

    losses = result.losses
    assert len(losses) == 4 and losses[-1] < losses[0]
    after = dict(trainer.model.named_parameters())
    assert all(torch.equal(base[n], after[n]) for n in base)
    assert (result.adapter_dir / "chat_template.jinja").read_text() == tok.chat_template


def test_the_trained_adapter_exports(smol_run, tmp_path):
    from agentbench_tuning.training.export import export_merged

    _, _, _, result = smol_run
    report = export_merged(result.adapter_dir, tmp_path / "merged", dtype="float32")
    assert report.ok, report.summary()
    assert (tmp_path / "merged" / "model.safetensors").is_file()


def test_the_transformers_generator_opens_the_spec_and_stops_at_its_end_of_turn():
    from agentbench_tuning.config import RolloutSettings
    from agentbench_tuning.rollout.engines import build_generator
    from agentbench_tuning.rollout.generator import STOP, Prompt, Sampling, render_prompt

    generator = build_generator("smollm2", RolloutSettings(engine="transformers"))
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    ids = render_prompt(generator.tokenizer, messages)
    [gen] = generator.generate([Prompt(messages, ids, max_new_tokens=24)], Sampling())
    assert "Paris" in gen.text
    assert gen.finish_reason == STOP and gen.token_ids[-1] == 2  # <|im_end|>


@pytest.mark.vllm
def test_the_vllm_generator_opens_the_spec_and_stops_at_its_end_of_turn():
    pytest.importorskip("vllm")
    from agentbench_tuning.config import Limits, RolloutSettings
    from agentbench_tuning.rollout.engines import build_generator
    from agentbench_tuning.rollout.generator import STOP, Prompt, Sampling, render_prompt

    generator = build_generator("smollm2", RolloutSettings(engine="vllm", limits=Limits(max_context=2048)))
    try:
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        ids = render_prompt(generator.tokenizer, messages)
        [gen] = generator.generate([Prompt(messages, ids, max_new_tokens=24)], Sampling())
    finally:
        generator.close()
    assert "Paris" in gen.text
    assert gen.finish_reason == STOP and gen.token_ids[-1] == 2  # <|im_end|>
