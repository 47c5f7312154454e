"""Memory planner: will a fine-tuning run fit on a GPU, and which batch size / sequence length does.

Pure arithmetic over the model's shapes (no torch, no GPU). `plan_memory(request)` breaks the peak of one
training step into weights, adapter, gradients, optimizer state, saved activations, the loss head over the
vocabulary, the vLLM share (GRPO) and an allowance for what no trace sees (CUDA context, allocator
fragmentation, kernel workspaces). Every activation term names the tensor that autograd keeps; the
formulas are checked against a fake-tensor trace of the real step in `plan_trace.py`
(benchmarks/plan_trace.py, docs/planning.md).

    from agentbench_tuning.plan import PlanRequest, plan_memory, format_plan, recommend, model_shape
    req = PlanRequest(model=model_shape("Qwen/Qwen2.5-7B-Instruct"), finetune="qlora", seq_len=8192, gpu="l4")
    print(format_plan(plan_memory(req))); print(recommend(req).summary())
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from agentbench_tuning.plan_shapes import (
    GPUS,
    GPU,
    ModelShape,
    adapter_params,
    lora_modules,
    gpu_spec,
    layer_params,
    linear_params,
    model_shape,
    total_params,
)

GiB = 1024**3
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
# NF4: 4 bits per weight + one absmax per 64-weight block, itself quantized to 8 bits with double quant, plus
# one fp32 scale per 256 absmax values (bitsandbytes' blocksizes).
NF4_BYTES_PER_PARAM = 0.5 + 1 / 64 + 4 / (64 * 256)
EIGHT_BIT_OPTIMS = ("paged_adamw_8bit", "adamw_8bit", "adamw_bnb_8bit", "paged_adamw_8bit_bnb")
TORCH_OPTIMS = ("adamw_torch", "adamw_torch_fused", "paged_adamw_32bit", "adamw_bnb_32bit")
# TRL's fused LM head (trl.trainer.utils): token tiles of 4096 x vocabulary chunks of 32768 logits.
LOSS_TOKEN_TILE, LOSS_VOCAB_CHUNK = 4096, 32768
# Not seen by torch's allocator: the CUDA context (driver, cuBLAS/cuDNN handles and workspaces), ~0.5-0.8 GiB
# on recent drivers; and caching-allocator fragmentation, which grows with the dynamic (activation) part.
CUDA_CONTEXT_BYTES = int(0.75 * GiB)
FRAGMENTATION_SHARE = 0.10


@dataclass(frozen=True)
class PlanRequest:
    """One training configuration. `seq_len` is tokens per sequence; `batch_size` sequences per device."""

    model: ModelShape
    gpu: str = "a100-80gb"
    method: str = "sft"  # sft | dpo | grpo
    finetune: str = "lora"  # full | lora | qlora
    dtype: str = "bf16"  # compute dtype: bf16 | fp16 | fp32
    seq_len: int = 8192
    batch_size: int = 1
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = True
    lora_r: int = 16
    lora_dropout: float = 0.05
    lora_targets: str | tuple[str, ...] = "all-linear"
    optim: str = "adamw_torch_fused"
    loss: str = "chunked"  # chunked (TRL's fused LM head) | full (transformers' loss: logits + fp32 upcast)
    dpo_precompute_ref: bool = False
    grpo_num_generations: int = 8
    grpo_vllm: str = "colocate"  # colocate | server | none (generate with transformers)
    vllm_gpu_memory_utilization: float | None = 0.3  # None: size vLLM by weights + KV cache instead

    def validate(self) -> PlanRequest:
        _choice("method", self.method, ("sft", "dpo", "grpo"))
        _choice("finetune", self.finetune, ("full", "lora", "qlora"))
        _choice("dtype", self.dtype, tuple(DTYPE_BYTES))
        _choice("optim", self.optim, TORCH_OPTIMS + EIGHT_BIT_OPTIMS)
        _choice("loss", self.loss, ("chunked", "full"))
        _choice("grpo_vllm", self.grpo_vllm, ("colocate", "server", "none"))
        gpu_spec(self.gpu)
        for name in ("seq_len", "batch_size", "gradient_accumulation_steps", "lora_r", "grpo_num_generations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        util = self.vllm_gpu_memory_utilization
        if util is not None and not 0 < util < 1:
            raise ValueError(f"vllm_gpu_memory_utilization={util} must be in (0, 1), or None to size by KV cache")
        return self


def _choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}")


@dataclass(frozen=True)
class MemoryPlan:
    """Peak device memory of one optimizer step, in bytes per component."""

    request: PlanRequest
    weights: int
    adapter: int
    gradients: int
    optimizer: int
    activations: int  # saved for backward at the peak, plus the backward's working set
    loss_head: int  # logits over the vocabulary (tiles, or full logits + fp32 upcast)
    generation: int  # vLLM's reservation or the KV cache of transformers generation (GRPO)
    reference: int  # a separate reference model's weights (DPO/GRPO full fine-tuning)
    overhead: int  # CUDA context + allocator fragmentation: not traceable, an allowance
    peak_phase: str
    gpu_bytes: int

    @property
    def traceable(self) -> int:
        """What a fake-tensor trace of the training step sees: all but the allowance and generation."""
        return self.total - self.overhead - self.generation

    @property
    def total(self) -> int:
        return sum(getattr(self, name) for name in COMPONENTS)

    @property
    def headroom(self) -> int:
        return self.gpu_bytes - self.total

    @property
    def fits(self) -> bool:
        return self.headroom >= 0


COMPONENTS = (
    "weights", "adapter", "gradients", "optimizer", "activations", "loss_head", "generation", "reference",
    "overhead",
)  # fmt: skip


# ------------------------------------------------------------------------------------------ the formulas


def trainable_params(req: PlanRequest) -> int:
    if req.finetune == "full":
        return total_params(req.model)
    return adapter_params(req.model, req.lora_r, req.lora_targets)


def adapter_dtype(req: PlanRequest) -> str:
    """PEFT upcasts adapters to fp32 (autocast_adapter_dtype); TRL casts QLoRA adapters back to bf16."""
    return "bf16" if req.finetune == "qlora" else "fp32"


def adapter_dtype_bytes(req: PlanRequest) -> int:
    return DTYPE_BYTES[adapter_dtype(req)]


def weights_bytes(req: PlanRequest) -> int:
    """The base model; QLoRA packs the decoder's linear layers in NF4, the rest stays in the compute dtype."""
    c = DTYPE_BYTES[req.dtype]
    if req.finetune != "qlora":
        return total_params(req.model) * c
    quantized = linear_params(req.model)
    return math.ceil(quantized * NF4_BYTES_PER_PARAM) + (total_params(req.model) - quantized) * c


def optimizer_bytes(req: PlanRequest) -> int:
    """AdamW keeps two moments per trainable parameter: in the parameter's dtype for torch's AdamW, one byte
    each (+ an fp32 absmax per 256-block) for bitsandbytes' 8-bit AdamW."""
    n = trainable_params(req)
    if req.optim in EIGHT_BIT_OPTIMS:
        return 2 * n + 2 * 4 * math.ceil(n / 256)
    param_bytes = DTYPE_BYTES[req.dtype] if req.finetune == "full" else adapter_dtype_bytes(req)
    return 2 * n * param_bytes


def gradient_bytes(req: PlanRequest) -> int:
    param_bytes = DTYPE_BYTES[req.dtype] if req.finetune == "full" else adapter_dtype_bytes(req)
    return trainable_params(req) * param_bytes


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
    the MLP: gradients of (tokens x intermediate) tensors, and in PEFT's fp32 branch the input cast to fp32
    next to its dropout output; the hidden-width gradients of the residual stream come on top."""
    m, c, t = req.model, DTYPE_BYTES[req.dtype], tokens(req)
    h, i = m.hidden_size, m.intermediate_size
    fp32_branch = _down_lora_fp32_path(req)
    forward = t * i * (2 * adapter_dtype_bytes(req) if fp32_branch else c)
    if req.finetune == "full":
        backward = t * (2 * i * c + 2 * h * c)
    else:
        backward = t * (i * c + (2 * i * adapter_dtype_bytes(req) if fp32_branch else 0) + 5 * h * c)
    return forward, backward


def loss_head_bytes(req: PlanRequest) -> tuple[int, int]:
    """(forward, backward) bytes of the projection onto the vocabulary and the loss, beyond the backbone.

    chunked (TRL's fused LM head): the final norm's fp32 input, the hidden states it keeps, per-token
    statistics, one (4096 x 32768) logits tile, and in backward an fp32 gradient of the hidden states (plus an
    fp32 accumulator of the LM head's weight gradient when that weight trains).
    full (transformers' loss): the logits in the compute dtype, their fp32 upcast and fp32 log-softmax;
    backward holds the saved log-softmax, its fp32 gradient and the gradient cast back."""
    m, c, t = req.model, DTYPE_BYTES[req.dtype], tokens(req)
    h, v = m.hidden_size, m.vocab_size
    kept = t * (4 * h + 4 + c * h + 18)  # final norm input + rsqrt, hidden states, targets/log_z/entropy/mask
    if req.loss == "full":
        return t * (4 * h + 4) + t * v * (c + 8), t * (4 * h + 4) + t * v * (8 + c)
    tile = min(t, LOSS_TOKEN_TILE) * min(v, LOSS_VOCAB_CHUNK) * c
    forward = kept + 28 * t + tile
    backward = kept + t * h * (4 + c) + tile + (v * h * 4 if req.finetune == "full" else 0)
    return forward, backward


def kept_activation_bytes(req: PlanRequest) -> int:
    """What every layer keeps until its backward: its input under checkpointing, else all it saves; plus
    RoPE's cos/sin and the autocast copies of the fp32 LoRA weights (of the recomputed layer only under
    checkpointing)."""
    m, c, t = req.model, DTYPE_BYTES[req.dtype], tokens(req)
    per_layer = t * m.hidden_size * c if req.gradient_checkpointing else t * saved_per_layer_token(req)
    casts = 0
    if req.finetune != "full" and adapter_dtype(req) != req.dtype:
        casts = adapter_params(m, req.lora_r, req.lora_targets) * c
        casts = casts // m.num_layers if req.gradient_checkpointing else casts
    return m.num_layers * per_layer + 2 * t * m.head_dim * c + casts


def generation_bytes(req: PlanRequest) -> tuple[int, int]:
    """(resident, transient) bytes of GRPO's generation on this GPU. Colocated vLLM reserves its
    gpu_memory_utilization share of the whole GPU for the run (or, sized instead, a bf16 copy of the weights
    plus the KV cache of the rollouts); generating with transformers holds the KV cache only while sampling.
    TRL samples per_device_train_batch_size x steps_per_generation (= gradient accumulation) rollouts."""
    if req.method != "grpo" or req.grpo_vllm == "server":
        return 0, 0
    m, c = req.model, DTYPE_BYTES[req.dtype]
    rollouts = req.batch_size * req.gradient_accumulation_steps
    kv_cache = 2 * m.num_layers * m.kv_dim * c * rollouts * req.seq_len
    if req.grpo_vllm == "none":
        return 0, kv_cache + rollouts * m.vocab_size * 4
    if req.vllm_gpu_memory_utilization is not None:
        return int(req.vllm_gpu_memory_utilization * gpu_spec(req.gpu).memory_bytes), 0
    return total_params(m) * 2 + kv_cache, 0


def _phase_totals(req: PlanRequest) -> dict[str, tuple[int, int, int]]:
    """{phase: (gradients, activations, loss_head)} at the peak of each phase of a training step."""
    m, c = req.model, DTYPE_BYTES[req.dtype]
    all_grads = gradient_bytes(req)
    kept = kept_activation_bytes(req)
    fwd_work, bwd_work = layer_working_bytes(req)
    loss_fwd, loss_bwd = loss_head_bytes(req)
    recomputed = tokens(req) * saved_per_layer_token(req) if req.gradient_checkpointing else 0
    if req.finetune == "full":
        head_grad = m.vocab_size * m.hidden_size * c
        layer_grads = head_grad + layer_params(m) * c  # the last layer's, first in backward
    else:
        head_grad = layer_grads = all_grads  # adapters: small, counted whole
    accumulating = req.gradient_accumulation_steps > 1  # gradients live through the next micro-batches
    phases = {
        "forward": (all_grads if accumulating else 0, kept + fwd_work, 0),
        "loss forward": (all_grads if accumulating else 0, kept, loss_fwd),
        "loss backward": (all_grads if accumulating else head_grad, kept, loss_bwd),
        "backward": (all_grads if accumulating else layer_grads, kept + recomputed + bwd_work, 0),
        "optimizer": (all_grads, 0, 0),
    }
    _, generating = generation_bytes(req)
    if generating:
        phases["generation"] = (0, generating, 0)
    return phases


def plan_memory(req: PlanRequest) -> MemoryPlan:
    """Peak memory of a training step of `req` on `req.gpu`, by component, at the step's peak phase."""
    req = req.validate()
    trainable = trainable_params(req)
    adapter = 0 if req.finetune == "full" else trainable * adapter_dtype_bytes(req)
    optimizer = optimizer_bytes(req)
    # torch's foreach AdamW allocates one parameter-sized temporary in step(); fused and 8-bit do not.
    optimizer_temp = gradient_bytes(req) if req.optim == "adamw_torch" else 0
    reference = 0
    if req.method in ("dpo", "grpo") and req.finetune == "full" and not (req.method == "dpo" and req.dpo_precompute_ref):
        reference = total_params(req.model) * DTYPE_BYTES[req.dtype]  # without PEFT the reference is a copy
    resident, _ = generation_bytes(req)
    phases = _phase_totals(req)
    phases["optimizer"] = (phases["optimizer"][0], optimizer_temp, 0)
    peak_phase = max(phases, key=lambda p: sum(phases[p]))
    grads, activations, loss_head = phases[peak_phase]
    if peak_phase == "generation":
        generation, activations = activations, 0
    else:
        generation = 0
    overhead = CUDA_CONTEXT_BYTES + int(FRAGMENTATION_SHARE * (activations + loss_head + generation))
    return MemoryPlan(
        request=req, weights=weights_bytes(req), adapter=adapter, gradients=grads, optimizer=optimizer,
        activations=activations, loss_head=loss_head, generation=generation + resident, reference=reference,
        overhead=overhead, peak_phase=peak_phase, gpu_bytes=gpu_spec(req.gpu).memory_bytes,
    )  # fmt: skip


# --------------------------------------------------------------------------------------- recommending


@dataclass(frozen=True)
class Recommendation:
    """Settings that fit: the largest per-device batch at the longest sequence length, with gradient
    accumulation keeping the effective batch."""

    plan: MemoryPlan  # the plan of the recommended request (plan.request)
    effective_batch: int  # batch_size x gradient_accumulation_steps, per device
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def request(self) -> PlanRequest:
        return self.plan.request

    def summary(self) -> str:
        r = self.request
        head = (
            f"{r.gpu}: per_device_train_batch_size={r.batch_size} gradient_accumulation_steps="
            f"{r.gradient_accumulation_steps} max_length={r.seq_len} gradient_checkpointing="
            f"{str(r.gradient_checkpointing).lower()} -> {_gib(self.plan.total)} of {_gib(self.plan.gpu_bytes)}"
        )
        return "\n".join([head, *self.notes])


def _largest_batch(req: PlanRequest, cap: int) -> MemoryPlan | None:
    """The plan with the largest batch size in 1..cap that fits (memory grows with the batch)."""
    best = None
    low, high = 1, cap
    while low <= high:
        mid = (low + high) // 2
        accumulation = max(1, math.ceil(cap / mid))
        plan = plan_memory(dataclasses.replace(req, batch_size=mid, gradient_accumulation_steps=accumulation))
        if plan.fits:
            best, low = plan, mid + 1
        else:
            high = mid - 1
    return best


def recommend(req: PlanRequest, gpu: str | None = None, min_seq_len: int = 1024) -> Recommendation:
    """Fit `req` on `gpu` (default req.gpu), keeping its effective batch: first the largest batch size at
    the requested sequence length; then with gradient checkpointing; only then shorter sequences (halving,
    down to `min_seq_len`), since users are evaluated at the full context."""
    req = dataclasses.replace(req, gpu=gpu or req.gpu).validate()
    effective = req.batch_size * req.gradient_accumulation_steps
    notes: list[str] = []
    seq_len = req.seq_len
    while seq_len >= min(min_seq_len, req.seq_len):
        for checkpointing in dict.fromkeys((req.gradient_checkpointing, True)):
            plan = _largest_batch(dataclasses.replace(req, seq_len=seq_len, gradient_checkpointing=checkpointing), effective)
            if plan is None:
                continue
            if checkpointing and not req.gradient_checkpointing:
                notes.append("turned gradient checkpointing on: without it nothing fits")
            if seq_len < req.seq_len:
                notes.append(f"shortened sequences from {req.seq_len} to {seq_len}: longer examples are dropped or cut")
            done = plan.request.batch_size * plan.request.gradient_accumulation_steps
            if done != effective:
                notes.append(f"effective batch {done} instead of {effective}: {effective} is not a multiple of {plan.request.batch_size}")
            return Recommendation(plan, done, tuple(notes))
        seq_len //= 2
    smallest = plan_memory(dataclasses.replace(req, seq_len=min(min_seq_len, req.seq_len), batch_size=1, gradient_checkpointing=True))
    return Recommendation(smallest, effective, (
        f"does not fit on {req.gpu} even at batch 1, {smallest.request.seq_len} tokens, with checkpointing "
        f"({_gib(smallest.total)} > {_gib(smallest.gpu_bytes)}): use QLoRA, a smaller model or a larger GPU",
    ))  # fmt: skip


# ---------------------------------------------------------------------------------------- presenting


def _gib(n: int) -> str:
    return f"{n / GiB:.1f} GiB"


def format_plan(plan: MemoryPlan) -> str:
    """A plain-text table of the plan, one row per component."""
    r = plan.request
    lines = [
        f"{r.model.name} {r.method} {r.finetune} {r.dtype}: batch {r.batch_size} x {r.seq_len} tokens, "
        f"accumulation {r.gradient_accumulation_steps}, checkpointing {'on' if r.gradient_checkpointing else 'off'}, "
        f"{r.optim}; peak in {plan.peak_phase}",
    ]
    for name in COMPONENTS:
        value = getattr(plan, name)
        if value:
            lines.append(f"  {name:<12} {value / GiB:8.2f} GiB")
    verdict = "fits" if plan.fits else "DOES NOT FIT"
    lines.append(f"  {'total':<12} {plan.total / GiB:8.2f} GiB of {plan.gpu_bytes / GiB:.1f} GiB ({r.gpu}): "
                 f"{verdict}, headroom {plan.headroom / GiB:+.2f} GiB")  # fmt: skip
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ our SFT configs


def sft_plan_request(cfg, gpu: str) -> PlanRequest:
    """The PlanRequest of an SFTRunConfig (agentbench_tuning.config) on `gpu`."""
    precision = cfg.train.precision
    if precision == "auto":
        precision = "bf16" if gpu_spec(gpu).bf16 else "fp16"
    finetune = "full" if not cfg.lora.enabled else ("qlora" if cfg.model.quantization == "4bit" else "lora")
    targets = cfg.lora.target_modules
    return PlanRequest(
        model=model_shape(cfg.model.name_or_path), gpu=gpu, method="sft", finetune=finetune, dtype=precision,
        seq_len=cfg.data.max_length, batch_size=cfg.train.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.train.gradient_accumulation_steps,
        gradient_checkpointing=cfg.train.gradient_checkpointing, lora_r=cfg.lora.r,
        lora_dropout=cfg.lora.dropout, lora_targets=targets if isinstance(targets, str) else tuple(targets),
        optim=cfg.train.optim,
    )  # fmt: skip


def plan_for_sft_config(cfg, gpu: str) -> MemoryPlan:
    """Plan an `abtune sft` run: print `format_plan(plan)` at start, warn when `not plan.fits`."""
    return plan_memory(sft_plan_request(cfg, gpu))
