"""The memory planner: hand-checked byte counts, the shipped presets, recommendations, and a fake-tensor
trace that the plan must match."""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path

import pytest

from agentbench_tuning.config import load_sft_config
from agentbench_tuning.models import TinySize, tiny_config
from agentbench_tuning.plan import (
    PlanRequest,
    format_plan,
    largest_batch,
    optimizer_bytes,
    plan_for_sft_config,
    plan_memory,
    recommend,
    weights_bytes,
)
from agentbench_tuning.plan_activations import saved_per_layer_token
from agentbench_tuning.plan_shapes import (
    GPUS,
    QWEN3_4B,
    QWEN25_7B,
    adapter_params,
    model_shape,
    shape_from_hf_config,
    total_params,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = sorted(CONFIGS.glob("qwen*.yaml"))
TINY_QWEN2 = shape_from_hf_config(tiny_config("qwen2.5"), "tiny-qwen2")
TINY_QWEN3 = shape_from_hf_config(tiny_config("qwen3-2507"), "tiny-qwen3")


def _meta_model(shape):
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(shape.to_hf_config(), dtype=torch.bfloat16)


@pytest.mark.parametrize("shape", [TINY_QWEN2, TINY_QWEN3, QWEN25_7B, QWEN3_4B], ids=lambda s: s.name)
def test_parameter_count_equals_the_transformers_model(shape):
    model = _meta_model(shape)
    assert total_params(shape) == sum(p.numel() for p in model.parameters())


def test_the_real_models_have_their_published_sizes():
    assert total_params(QWEN25_7B) == 7_615_616_512  # "7.6 B"
    assert total_params(QWEN3_4B) == 4_022_468_096  # "4.0 B", tied embeddings counted once


def test_weights_and_adam_state_by_hand():
    req = PlanRequest(model=TINY_QWEN2, finetune="full", dtype="bf16", optim="adamw_torch")
    params = total_params(TINY_QWEN2)
    assert weights_bytes(req) == params * 2
    assert optimizer_bytes(req) == 2 * params * 2  # torch AdamW keeps both moments in the param dtype (bf16)
    lora = dataclasses.replace(req, finetune="lora", lora_r=16)
    assert optimizer_bytes(lora) == 2 * adapter_params(TINY_QWEN2, 16) * 4  # PEFT adapters are fp32
    eight_bit = dataclasses.replace(lora, optim="paged_adamw_8bit")
    n = adapter_params(TINY_QWEN2, 16)
    assert optimizer_bytes(eight_bit) == 2 * n + 8 * -(-n // 256)


def test_qlora_weights_are_nf4_for_decoder_linears_only():
    req = PlanRequest(model=QWEN25_7B, finetune="qlora")
    linear = 28 * (3584 * 3584 * 2 + 3584 * 512 * 2 + 3 * 3584 * 18944)
    rest = total_params(QWEN25_7B) - linear
    # every linear weight count here is a multiple of 16384: 0.5 + 1/64 + 4/16384 bytes per weight exactly
    assert linear % 16384 == 0
    assert weights_bytes(req) == linear // 2 + linear // 64 + linear // 4096 + rest * 2


def test_lora_parameter_count_by_hand_equals_peft():
    from peft import LoraConfig, get_peft_model

    # tiny Qwen2: hidden 128, 4 heads x 32 -> q 128, 2 kv heads -> k/v 64, FFN 256, 2 layers. r (in + out):
    per_layer = 16 * ((128 + 128) + (128 + 64) + (128 + 64) + (128 + 128) + 3 * (128 + 256))
    assert per_layer == 32768
    assert adapter_params(TINY_QWEN2, 16) == 2 * per_layer
    model = get_peft_model(_meta_model(TINY_QWEN2), LoraConfig(r=16, target_modules="all-linear"))
    assert model.get_nb_trainable_parameters()[0] == 2 * per_layer
    config = LoraConfig(r=8, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(_meta_model(TINY_QWEN3), config)
    assert model.get_nb_trainable_parameters()[0] == adapter_params(TINY_QWEN3, 8, ("q_proj", "v_proj"))


def test_model_shape_reads_a_local_config(tmp_path):
    tiny_config("qwen3-2507", TinySize(hidden_size=64, num_attention_heads=2, head_dim=32)).save_pretrained(
        tmp_path
    )
    shape = model_shape(str(tmp_path))
    assert (shape.hidden_size, shape.num_heads, shape.head_dim, shape.qk_norm) == (64, 2, 32, True)
    with pytest.raises(ValueError, match="no .*config.json"):
        model_shape(str(tmp_path / "missing"))


@pytest.mark.parametrize(
    "override, match",
    [
        ({"gpu": "v100"}, "gpu='v100' is unknown"),
        ({"finetune": "dora"}, "finetune='dora'"),
        ({"seq_len": 0}, "seq_len=0"),
        ({"gpu": "t4"}, "gpu='t4' has no bf16: plan it with dtype='fp16'"),
        ({"lora_targets": ("q_proj", "lm_head")}, r"\['lm_head'\] are not linear layers"),
    ],
)
def test_bad_requests_name_the_value(override, match):
    with pytest.raises(ValueError, match=match):
        plan_memory(PlanRequest(model=QWEN25_7B, **override))


# ------------------------------------------------------------------- saved activations: tensor by tensor


def _autograd_saved_bytes(req: PlanRequest, layers: int) -> int:
    """Bytes of the distinct non-parameter storages autograd saves in a forward of `layers` layers."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from agentbench_tuning.plan_trace import _materialize_fake, _torch_dtype, build_model, gpu_semantics

    req = dataclasses.replace(req, model=req.model.with_layers(layers), gradient_checkpointing=False)
    model = build_model(req)
    saved: dict[int, int] = collections.OrderedDict()
    with FakeTensorMode(), gpu_semantics():
        _materialize_fake(model)
        params = {id(p.untyped_storage()) for p in model.parameters()}

        def pack(t):
            storage = t.untyped_storage()
            if id(storage) not in params:
                saved.setdefault(id(storage), storage.nbytes())
            return t

        ids = torch.zeros(req.batch_size, req.seq_len, dtype=torch.long)
        autocast = torch.autocast("cpu", dtype=_torch_dtype(req.dtype), enabled=req.dtype != "fp32")
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
            model(input_ids=ids, labels=ids, fused_lm_head=True)
    return sum(saved.values())


@pytest.mark.parametrize(
    "finetune, dropout, dtype",
    [
        ("full", 0.0, "bf16"),
        ("lora", 0.05, "bf16"),
        ("lora", 0.0, "bf16"),
        ("qlora", 0.05, "fp16"),
        ("qlora", 0.0, "bf16"),
    ],
)
@pytest.mark.parametrize("shape", [TINY_QWEN2, TINY_QWEN3], ids=lambda s: s.name)
def test_saved_per_layer_matches_autograd_exactly(shape, finetune, dropout, dtype):
    req = PlanRequest(
        model=shape, finetune=finetune, lora_dropout=dropout, dtype=dtype, seq_len=64, batch_size=2
    )
    per_layer = _autograd_saved_bytes(req, 2) - _autograd_saved_bytes(req, 1)
    casts = 0  # autocast keeps a compute-dtype copy of each fp32 (or bf16 under fp16) adapter weight
    if finetune != "full" and not (finetune == "qlora" and dtype == "bf16"):
        casts = adapter_params(shape.with_layers(1), req.lora_r) * 2
    assert per_layer == 128 * saved_per_layer_token(req) + casts


# --------------------------------------------------------------------------------- presets and advice


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_preset_fits_the_gpu_in_its_name(path):
    gpu = path.stem.split("_", 1)[1]
    assert gpu in GPUS
    plan = plan_for_sft_config(load_sft_config(path), gpu)
    assert plan.fits, format_plan(plan)
    assert plan.headroom > 0.05 * plan.gpu_bytes  # not on the edge either: the allowance is an estimate


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_recommendation_fits_and_one_more_sequence_does_not(path):
    gpu = path.stem.split("_", 1)[1]
    plan = plan_for_sft_config(load_sft_config(path), gpu)
    advice = recommend(plan.request)
    r = advice.request
    assert advice.fits and r.seq_len == plan.request.seq_len
    assert r.batch_size * r.gradient_accumulation_steps == 16  # the presets' effective batch is kept
    assert r.batch_size <= advice.max_batch_size and 16 % r.batch_size == 0
    assert advice.max_batch_size == largest_batch(r, 16)
    if advice.max_batch_size < 16:
        bigger = dataclasses.replace(r, batch_size=advice.max_batch_size + 1)
        assert not plan_memory(bigger).fits


def test_recommend_turns_on_checkpointing_then_shortens_sequences():
    req = PlanRequest(model=QWEN25_7B, gpu="t4", finetune="qlora", seq_len=32768, gradient_checkpointing=False,
                      optim="paged_adamw_8bit", dtype="fp16", gradient_accumulation_steps=8)  # fmt: skip
    advice = recommend(req)
    assert advice.fits and advice.request.gradient_checkpointing and advice.request.seq_len < 32768
    assert any("checkpointing" in n for n in advice.notes) and any("shortened" in n for n in advice.notes)
    full = recommend(PlanRequest(model=QWEN25_7B, gpu="t4", finetune="full", dtype="fp16"))
    assert not full.fits and "does not fit" in full.notes[0]


def test_grpo_colocated_vllm_takes_its_share_and_dpo_doubles_the_tokens():
    sft = plan_memory(PlanRequest(model=QWEN3_4B, gpu="a100-80gb"))
    grpo = plan_memory(PlanRequest(model=QWEN3_4B, gpu="a100-80gb", method="grpo"))
    assert grpo.generation == int(0.3 * GPUS["a100-80gb"].memory_bytes)
    assert plan_memory(PlanRequest(model=QWEN3_4B, method="grpo", grpo_vllm="server")).generation == 0
    dpo = plan_memory(PlanRequest(model=QWEN3_4B, gpu="a100-80gb", method="dpo"))
    double = plan_memory(PlanRequest(model=QWEN3_4B, gpu="a100-80gb", batch_size=2))
    assert dpo.activations == double.activations and dpo.activations > sft.activations


# ------------------------------------------------------------------------------------------ the trace


MEDIUM = dataclasses.replace(TINY_QWEN2, hidden_size=256, num_heads=8, head_dim=32, intermediate_size=1024,
                             num_layers=4, name="medium-qwen2")  # fmt: skip


@pytest.mark.parametrize(
    "finetune, checkpointing", [("lora", True), ("lora", False), ("full", False), ("qlora", True)]
)
def test_plan_agrees_with_a_fake_tensor_trace(finetune, checkpointing):
    from agentbench_tuning.plan_trace import trace_step

    req = PlanRequest(model=MEDIUM, finetune=finetune, gradient_checkpointing=checkpointing, seq_len=2048,
                      batch_size=2, optim="paged_adamw_8bit" if finetune == "qlora" else "adamw_torch_fused")  # fmt: skip
    traced = trace_step(req)
    planned = plan_memory(req)
    assert traced.peak > 0.2e9  # activations matter at this shape, not only the 152k-row embeddings
    assert abs(planned.traceable / traced.peak - 1) < 0.10, (format_plan(planned), traced)


@pytest.mark.parametrize(
    "name, memory_gib, key",
    [("Tesla T4", 15, "t4"), ("NVIDIA L4", 22, "l4"), ("NVIDIA A100-SXM4-40GB", 39, "a100-40gb"),
     ("NVIDIA A100-SXM4-80GB", 79, "a100-80gb"), ("NVIDIA H100 80GB HBM3", 79, "h100"),
     ("NVIDIA H200", 140, "h200"), ("NVIDIA GeForce RTX 4090", 24, None), ("NVIDIA L40S", 45, None)],
)  # fmt: skip
def test_gpu_key_from_the_device_name(name, memory_gib, key):
    from agentbench_tuning.plan_shapes import gpu_key

    assert gpu_key(name, memory_gib * 1024**3) == key


def test_grpo_kv_cache_by_hand():
    from agentbench_tuning.plan_activations import generation_bytes

    # Qwen3-4B: K and V, 36 layers x 8 kv heads x 128 x 2 bytes = 147,456 bytes per token
    req = PlanRequest(model=QWEN3_4B, method="grpo", seq_len=4096, grpo_num_generations=8, grpo_vllm="none")
    assert generation_bytes(req) == (0, 147_456 * 8 * 4096 + 8 * 151_936 * 4)
    sized = dataclasses.replace(req, grpo_vllm="colocate", vllm_gpu_memory_utilization=None)
    assert generation_bytes(sized) == (total_params(QWEN3_4B) * 2 + 147_456 * 8 * 4096, 0)


def test_reference_model_is_a_copy_only_without_peft():
    from agentbench_tuning.plan import reference_bytes

    full = PlanRequest(model=QWEN3_4B, finetune="full")
    copy = total_params(QWEN3_4B) * 2
    assert reference_bytes(dataclasses.replace(full, method="dpo")) == copy
    assert reference_bytes(dataclasses.replace(full, method="dpo", dpo_precompute_ref=True)) == 0
    assert reference_bytes(dataclasses.replace(full, method="grpo")) == 0  # TRL's default beta=0
    assert reference_bytes(dataclasses.replace(full, method="grpo", grpo_beta=0.04)) == copy
    assert reference_bytes(PlanRequest(model=QWEN3_4B, method="dpo")) == 0  # LoRA: adapter disabled


@pytest.mark.slow  # three traces; ~20-80 s on 2 shared cores
def test_shallow_traces_extend_linearly_per_layer():
    from agentbench_tuning.plan_trace import trace_extrapolated, trace_step

    req = PlanRequest(model=MEDIUM, finetune="full", gradient_checkpointing=False, seq_len=1024)
    extended = trace_extrapolated(req, depths=(1, 2))
    assert extended.num_layers == 4
    assert abs(extended.peak / trace_step(req).peak - 1) < 0.02


def test_cli_plan_prints_the_breakdown_and_exits_1_when_it_does_not_fit():
    from typer.testing import CliRunner

    from agentbench_tuning.cli import app

    ok = CliRunner().invoke(app, ["plan", "--config", "configs/qwen2.5-7b_l4.yaml", "--gpu", "l4"])
    assert ok.exit_code == 0, ok.output
    assert "weights" in ok.output and "fits" in ok.output
    too_big = CliRunner().invoke(app, ["plan", "--model", "Qwen/Qwen2.5-7B-Instruct", "--gpu", "t4", "--finetune",
                                       "full", "--seq-len", "8192"])
    assert too_big.exit_code == 1 and "per_device_train_batch_size" in too_big.output
    assert CliRunner().invoke(app, ["plan", "--gpu", "l4"]).exit_code == 2
