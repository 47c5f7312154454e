"""Activation, loss-head and generation bytes of one training step: the tensors autograd keeps, term by term.

Per decoder layer, `saved_per_layer_token` counts what transformers' Qwen2/Qwen3 layers with PEFT LoRA keep
for backward under autocast; it is exact (tests/test_plan.py compares it tensor by tensor with what autograd
saves on fake tensors). The working sets (what a layer's backward allocates on top) and the loss head follow
the code of PEFT and TRL's fused LM head; docs/planning.md walks through them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentbench_tuning.plan_shapes import (
    DTYPE_BYTES,
    ModelShape,
    adapter_params,
    gpu_spec,
    lora_modules,
    total_params,
)

if TYPE_CHECKING:  # plan.py imports this module; the request type is only needed for annotations
    from agentbench_tuning.plan import PlanRequest

# TRL's fused LM head (trl.trainer.utils): token tiles of 4096 x vocabulary chunks of 32768 logits.
LOSS_TOKEN_TILE, LOSS_VOCAB_CHUNK = 4096, 32768


def adapter_dtype(req: PlanRequest) -> str:
    """PEFT upcasts adapters to fp32 (autocast_adapter_dtype); TRL casts QLoRA adapters back to bf16."""
    return "bf16" if req.finetune == "qlora" else "fp32"


def adapter_dtype_bytes(req: PlanRequest) -> int:
    return DTYPE_BYTES[adapter_dtype(req)]


def _input_groups(m: ModelShape) -> dict[str, tuple[int, tuple[str, ...]]]:
    """Linear layers that read the same tensor: (its width, the layers)."""
    return {
        "attn_in": (m.hidden_size, ("q_proj", "k_proj", "v_proj")),
        "o_in": (m.q_dim, ("o_proj",)),
        "mlp_in": (m.hidden_size, ("gate_proj", "up_proj")),
        "down_in": (m.intermediate_size, ("down_proj",)),
    }


def saved_per_layer_token(req: PlanRequest) -> int:
    """Bytes one decoder layer saves for backward per token (no checkpointing). Exact for transformers'
    Qwen2/Qwen3 layers with PEFT LoRA under autocast (checked tensor by tensor in tests/test_plan.py)."""
    m, c, full = req.model, DTYPE_BYTES[req.dtype], req.finetune == "full"
    h, q, kv = m.hidden_size, m.q_dim, m.kv_dim
    # RMSNorm keeps its fp32 input and rsqrt; with a trainable weight also the normalised output.
    total = 2 * (4 * h + 4 + (c * h if full else 0))
    if m.qk_norm:
        total += 4 * (q + kv) + 4 * (m.num_heads + m.num_kv_heads) + (c * (q + kv) if full else 0)
    total += c * (2 * q + 2 * kv) + 4 * m.num_heads  # SDPA: q, k, v, output, fp32 logsumexp
    total += 3 * c * m.intermediate_size  # SwiGLU: gate output, up output, silu(gate)
    total += sum(_group_saved(req, width, layers, name) for name, (width, layers) in _input_groups(m).items())
    return total


def _group_saved(req: PlanRequest, width: int, layers: tuple[str, ...], group: str) -> int:
    """Inputs that the linear layers reading one tensor keep: the shared input once when a weight trains
    (o_proj's input is the SDPA output, already kept), per LoRA layer its dropout mask (1 byte, as CUDA
    keeps it) and lora_A's input, or the input cast to the adapter's dtype when there is no dropout."""
    c = DTYPE_BYTES[req.dtype]
    shared = req.finetune == "full"
    total = 0
    targets = () if req.finetune == "full" else lora_modules(req.lora_targets)
    for layer in layers:
        if layer not in targets:
            continue
        if req.lora_dropout > 0:
            total += width * (1 + c)
        elif adapter_dtype(req) != req.dtype:
            total += width * c
        else:
            shared = True
        total += req.lora_r * c  # lora_B's input
    if shared and group != "o_in":
        total += width * c
    return total


def tokens(req: PlanRequest) -> int:
    """Tokens in one micro-batch: DPO runs chosen and rejected together."""
    return req.seq_len * req.batch_size * (2 if req.method == "dpo" else 1)


def _down_lora_fp32_path(req: PlanRequest) -> bool:
    """Whether down_proj's LoRA branch runs in another dtype than the compute (fp32 adapters under bf16)."""
    targeted = req.finetune != "full" and "down_proj" in lora_modules(req.lora_targets)
    return targeted and adapter_dtype(req) != req.dtype


def layer_working_bytes(req: PlanRequest) -> tuple[int, int]:
    """(forward, backward) bytes a layer allocates beyond what it saves, at its own peak. The widest point is
    the MLP: gradients of (tokens x intermediate) tensors, and in PEFT's fp32 branch of down_proj the input
    cast to fp32 (and next to it the dropout's output and their gradients); the hidden-width gradients of the
    residual stream come on top. Read off the trace at one shape (docs/planning.md)."""
    m, c, t = req.model, DTYPE_BYTES[req.dtype], tokens(req)
    h, i = m.hidden_size, m.intermediate_size
    branch = 0
    if _down_lora_fp32_path(req):
        branch = (2 if req.lora_dropout > 0 else 1) * i * adapter_dtype_bytes(req)
    forward = t * (branch or i * c)
    if req.finetune == "full":
        return forward, t * (2 * i * c + 2 * h * c)
    return forward, t * (i * c + branch + 5 * h * c)


def loss_head_bytes(req: PlanRequest) -> tuple[int, int]:
    """(forward, backward) bytes of the projection onto the vocabulary and the loss, beyond the backbone.

    chunked (TRL's fused LM head): the final norm's fp32 input, the hidden states it keeps, per-token
    statistics, one (4096 x 32768) logits tile, and in backward an fp32 gradient of the hidden states (plus an
    fp32 accumulator of the LM head's weight gradient when that weight trains).
    full (transformers' loss): the logits in the compute dtype, their fp32 upcast and fp32 log-softmax;
    log-softmax's backward holds three fp32 (T x V) tensors: its saved output, the incoming gradient and its
    own gradient."""
    m, c, t = req.model, DTYPE_BYTES[req.dtype], tokens(req)
    h, v = m.hidden_size, m.vocab_size
    kept = t * (4 * h + 4 + c * h + 18)  # final norm input + rsqrt, hidden states, targets/log_z/entropy/mask
    if req.loss == "full":
        upcast = 0 if req.dtype == "fp32" else 4
        return t * (4 * h + 4) + t * v * (c + upcast + 4), t * (4 * h + 4) + t * v * 12
    tile = min(t, LOSS_TOKEN_TILE) * min(v, LOSS_VOCAB_CHUNK) * c
    forward = kept + 28 * t + tile
    backward = kept + t * h * (4 + c) + tile + (v * h * 4 if req.finetune == "full" else 0)
    return forward, backward


def kept_activation_bytes(req: PlanRequest, layers: int | None = None) -> int:
    """What every layer keeps until its backward: its input under checkpointing, else all it saves; plus
    RoPE's cos/sin and the autocast copies of the fp32 LoRA weights (of the recomputed layer only under
    checkpointing). `layers`: how many layers still keep theirs (default all)."""
    m, c, t = req.model, DTYPE_BYTES[req.dtype], tokens(req)
    per_layer = t * m.hidden_size * c if req.gradient_checkpointing else t * saved_per_layer_token(req)
    layers = m.num_layers if layers is None else layers
    casts = 0
    if req.finetune != "full" and adapter_dtype(req) != req.dtype:
        per_layer_casts = adapter_params(m, req.lora_r, req.lora_targets) * c // m.num_layers
        casts = per_layer_casts * (1 if req.gradient_checkpointing else layers)
    return layers * per_layer + 2 * t * m.head_dim * c + casts


def generation_bytes(req: PlanRequest) -> tuple[int, int]:
    """(resident, transient) bytes of GRPO's generation on this GPU. Colocated vLLM reserves its
    gpu_memory_utilization share of the whole GPU for the run (or, sized instead, a bf16 copy of the weights
    plus the KV cache of the rollouts); generating with transformers holds the KV cache only while sampling.
    TRL samples per_device_train_batch_size x steps_per_generation (= gradient accumulation) rollouts per
    device; sized here as at least one group of num_generations."""
    if req.method != "grpo" or req.grpo_vllm == "server":
        return 0, 0
    m, c = req.model, DTYPE_BYTES[req.dtype]
    rollouts = max(req.batch_size * req.gradient_accumulation_steps, req.grpo_num_generations)
    kv_cache = 2 * m.num_layers * m.kv_dim * c * rollouts * req.seq_len
    if req.grpo_vllm == "none":
        return 0, kv_cache + rollouts * m.vocab_size * 4
    if req.vllm_gpu_memory_utilization is not None:
        return int(req.vllm_gpu_memory_utilization * gpu_spec(req.gpu).memory_bytes), 0
    return total_params(m) * 2 + kv_cache, 0
