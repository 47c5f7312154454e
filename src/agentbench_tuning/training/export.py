"""Merge a LoRA adapter into its base model and save a standalone model that vLLM can serve.

The merged model is saved as safetensors with the tokenizer and its chat template (`chat_template.jinja`
and `tokenizer_config.json`), then reloaded from disk and checked against the adapter model: both must
give the same logits on a probe conversation within a stated tolerance. Any chat model works as the base
(Qwen, SmolLM2, a GGUF spec such as `smollm2`): the chat template's end-of-turn token is read off the
tokenizer (`chat.template_form`) and added to the generation config's eos ids when missing, so that
`vllm serve` and `generate()` stop where the template ends an assistant turn.

    abtune export --adapter runs/sft/final --out runs/sft/merged

A QLoRA adapter is merged into the base in full precision (merging into 4-bit weights would round the
update away); the check then compares against the adapter on that same full-precision base.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Max |logit difference| accepted, by dtype. fp32 merges agree to rounding; bf16 has ~3 significant digits
# and logits of magnitude ~10-30, so differences of a few hundredths are rounding, not a broken merge.
TOLERANCE = {"float32": 1e-3, "bfloat16": 0.125, "float16": 0.05}

PROBE = [
    {"role": "user", "content": "List the tables, then count the rows of `sales 2021`."},
    {"role": "assistant", "content": "Action: Operation\n```sql\nSELECT COUNT(*) FROM `sales 2021`;\n```"},
    {"role": "user", "content": "[(42,)]"},
]


@dataclass(frozen=True)
class ExportReport:
    out_dir: Path
    base: str
    dtype: str
    max_abs_logit_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_logit_diff <= self.tolerance

    def summary(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        return (
            f"{verdict}: merged model in {self.out_dir} reproduces the adapter's logits "
            f"(max |diff| {self.max_abs_logit_diff:.2e}, tolerance {self.tolerance:g}, dtype {self.dtype})"
        )


def adapter_base(adapter_dir: str | Path) -> str:
    config = Path(adapter_dir) / "adapter_config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{adapter_dir}: no adapter_config.json; is this a LoRA adapter directory?")
    return json.loads(config.read_text())["base_model_name_or_path"]


def _probe_logits(model, tokenizer):
    import torch

    ids = tokenizer.apply_chat_template(
        PROBE, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        return model(input_ids=ids["input_ids"].to(model.device)).logits.float().cpu()


def _stop_at_end_of_turn(generation_config, tokenizer) -> None:
    """Make the template's end-of-turn token an eos id (checking the template form on the way)."""
    from agentbench_tuning.chat import template_form

    stop = template_form(tokenizer).stop_id
    eos = generation_config.eos_token_id
    eos_ids = [] if eos is None else eos if isinstance(eos, list) else [eos]
    if stop not in eos_ids:
        generation_config.eos_token_id = eos_ids + [stop]


def export_merged(adapter_dir: str | Path, out_dir: str | Path, base: str | None = None, dtype: str = "auto"):
    """Merge, save, reload, compare. Returns an ExportReport; raises if the logits disagree."""
    from transformers import AutoModelForCausalLM

    from agentbench_tuning.models import load_policy, torch_dtype

    base = base or adapter_base(adapter_dir)
    policy = load_policy(base, lora=str(adapter_dir), dtype=dtype)
    dtype_name = str(torch_dtype(dtype)).removeprefix("torch.")
    # The adapter dir carries the tokenizer saved by the trainer; prefer it, so a template shipped with the
    # adapter travels with the merged model. Fall back to the base model's tokenizer. Both logit probes
    # use this one tokenizer: a template of the adapter's own renders the probe to other ids.
    tokenizer = policy.tokenizer
    if (Path(adapter_dir) / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
    reference = _probe_logits(policy.model, tokenizer)
    merged = policy.model.merge_and_unload()
    out_dir = Path(out_dir)
    _stop_at_end_of_turn(merged.generation_config, tokenizer)
    merged.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    reloaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch_dtype(dtype))
    diff = float((_probe_logits(reloaded, tokenizer) - reference).abs().max())
    report = ExportReport(out_dir, base, dtype_name, diff, TOLERANCE[dtype_name])
    if not report.ok:
        raise RuntimeError(report.summary())
    return report
