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
import math
from dataclasses import dataclass, field
from typing import Any

from agentbench_tuning.plan_activations import (
    adapter_dtype_bytes,
    generation_bytes,
    kept_activation_bytes,
    layer_working_bytes,
    loss_head_bytes,
    saved_per_layer_token,
    tokens,
)
from agentbench_tuning.plan_shapes import (
    DTYPE_BYTES,
    ModelShape,
    adapter_params,
    gpu_spec,
    layer_params,
    linear_params,
    lora_modules,
    model_shape,
    total_params,
)

GiB = 1024**3
EIGHT_BIT_OPTIMS = ("paged_adamw_8bit", "adamw_8bit", "adamw_bnb_8bit", "paged_adamw_8bit_bnb")
TORCH_OPTIMS = ("adamw_torch", "adamw_torch_fused", "paged_adamw_32bit", "adamw_bnb_32bit")
# Not seen by torch's allocator: the CUDA context (driver, cuBLAS/cuDNN handles and workspaces), ~0.5-0.8 GiB
# on recent drivers; and caching-allocator fragmentation, which grows with the dynamic (activation) part.
CUDA_CONTEXT_BYTES = int(0.75 * GiB)
FRAGMENTATION_SHARE = 0.10
POSITIVE_FIELDS = ("seq_len", "batch_size", "gradient_accumulation_steps", "lora_r", "grpo_num_generations")


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
    grpo_beta: float = 0.0  # KL weight; > 0 needs a reference model (a copy, for full fine-tuning)
    grpo_vllm: str = "colocate"  # colocate | server | none (generate with transformers)
    vllm_gpu_memory_utilization: float | None = 0.3  # None: size vLLM by weights + KV cache instead

    def validate(self) -> PlanRequest:
        _choice("method", self.method, ("sft", "dpo", "grpo"))
        _choice("finetune", self.finetune, ("full", "lora", "qlora"))
        _choice("dtype", self.dtype, tuple(DTYPE_BYTES))
        _choice("optim", self.optim, TORCH_OPTIMS + EIGHT_BIT_OPTIMS)
        _choice("loss", self.loss, ("chunked", "full"))
        _choice("grpo_vllm", self.grpo_vllm, ("colocate", "server", "none"))
        if self.dtype == "bf16" and not gpu_spec(self.gpu).bf16:
            raise ValueError(
                f"gpu={self.gpu!r} has no bf16: plan it with dtype='fp16' (train.precision=fp16)"
            )
        if self.finetune != "full":
            lora_modules(self.lora_targets)
        for name in POSITIVE_FIELDS:
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        util = self.vllm_gpu_memory_utilization
        if util is not None and not 0 < util < 1:
            raise ValueError(
                f"vllm_gpu_memory_utilization={util} must be in (0, 1), or None to size by KV cache"
            )
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
    optimizer: int  # state (+ foreach AdamW's temporary when the peak is the optimizer step)
    activations: int  # saved for backward at the peak, plus the backward's working set
    loss_head: int  # logits over the vocabulary (tiles, or full logits + fp32 upcast)
    generation: int  # vLLM's reservation or the KV cache of transformers generation (GRPO)
    reference: int  # a separate reference model's weights (DPO / GRPO with beta > 0, full fine-tuning)
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


def weights_bytes(req: PlanRequest) -> int:
    """The base model; QLoRA packs the decoder's linear layers in NF4, the rest stays in the compute dtype."""
    c = DTYPE_BYTES[req.dtype]
    if req.finetune != "qlora":
        return total_params(req.model) * c
    quantized = linear_params(req.model)
    return nf4_bytes(quantized) + (total_params(req.model) - quantized) * c


def nf4_bytes(params: int) -> int:
    """NF4 with double quantization (bitsandbytes' block sizes): 4 bits per weight, one 8-bit absmax per
    64-weight block, one fp32 scale per 256 blocks: 0.516 bytes per weight."""
    return -(-params // 2) + -(-params // 64) + 4 * -(-params // (64 * 256))


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


def _phase_totals(req: PlanRequest) -> dict[str, tuple[int, int, int]]:
    """{phase: (gradients, activations, loss_head)} at the peak of each phase of a training step."""
    m, c = req.model, DTYPE_BYTES[req.dtype]
    all_grads = gradient_bytes(req)
    kept = kept_activation_bytes(req)
    fwd_work, bwd_work = layer_working_bytes(req)
    loss_fwd, loss_bwd = loss_head_bytes(req)
    recomputed = tokens(req) * saved_per_layer_token(req) if req.gradient_checkpointing else 0
    # Backward runs from the last layer to the first: at the last, every layer's activations but few
    # gradients are alive; at the first, one layer's activations and nearly all gradients (full fine-tuning).
    if req.finetune == "full":
        head_grad = m.vocab_size * m.hidden_size * c
        last_grads = head_grad + layer_params(m) * c
        first_grads = all_grads - (
            0 if m.tie_word_embeddings else head_grad
        )  # embeddings' gradient comes last
    else:
        head_grad = last_grads = first_grads = all_grads  # adapters: small, counted whole
    if req.gradient_accumulation_steps > 1:  # gradients live on through the next micro-batches
        last_grads = first_grads = all_grads
        # a new LM-head gradient exists next to the held one until autograd adds it in
        head_grad = all_grads + (m.vocab_size * m.hidden_size * c if req.finetune == "full" else 0)
    held = all_grads if req.gradient_accumulation_steps > 1 else 0
    kept_first = kept_activation_bytes(req, layers=1)
    phases = {
        "forward": (held, kept + fwd_work, 0),
        "loss forward": (held, kept, loss_fwd),
        "loss backward": (head_grad, kept, loss_bwd),
        "backward, last layer": (last_grads, kept + recomputed + bwd_work, 0),
        "backward, first layer": (first_grads, kept_first + recomputed + bwd_work, 0),
        "optimizer": (all_grads, 0, 0),
    }
    if req.finetune == "full" and m.tie_word_embeddings:
        # The embedding's gradient meets the LM head's in the tied weight: autograd adds them out of place.
        phases["embedding backward"] = (all_grads + 2 * m.vocab_size * m.hidden_size * c, 0, 0)
    _, generating = generation_bytes(req)
    if generating:
        phases["generation"] = (0, generating, 0)
    return phases


def reference_bytes(req: PlanRequest) -> int:
    """A separate reference model: DPO without precomputed log-probs, GRPO with beta > 0 (TRL's default is
    0: no reference). With PEFT the reference is the policy with its adapter disabled: no copy."""
    needed = (req.method == "dpo" and not req.dpo_precompute_ref) or (
        req.method == "grpo" and req.grpo_beta > 0
    )
    return total_params(req.model) * DTYPE_BYTES[req.dtype] if needed and req.finetune == "full" else 0


def plan_memory(req: PlanRequest) -> MemoryPlan:
    """Peak memory of a training step of `req` on `req.gpu`, by component, at the step's peak phase."""
    req = req.validate()
    trainable = trainable_params(req)
    adapter = 0 if req.finetune == "full" else trainable * adapter_dtype_bytes(req)
    optimizer = optimizer_bytes(req)
    # torch's foreach AdamW allocates one parameter-sized temporary in step(); fused and 8-bit do not.
    optimizer_temp = gradient_bytes(req) if req.optim == "adamw_torch" else 0
    resident, _ = generation_bytes(req)
    phases = _phase_totals(req)
    phases["optimizer"] = (phases["optimizer"][0], optimizer_temp, 0)
    peak_phase = max(phases, key=lambda p: sum(phases[p]))
    grads, activations, loss_head = phases[peak_phase]
    generation = 0
    if peak_phase == "generation":
        generation, activations = activations, 0
    if peak_phase == "optimizer":
        optimizer, activations = optimizer + activations, 0
    overhead = CUDA_CONTEXT_BYTES + int(FRAGMENTATION_SHARE * (activations + loss_head + generation))
    return MemoryPlan(
        request=req, weights=weights_bytes(req), adapter=adapter, gradients=grads, optimizer=optimizer,
        activations=activations, loss_head=loss_head, generation=generation + resident,
        reference=reference_bytes(req), overhead=overhead, peak_phase=peak_phase,
        gpu_bytes=gpu_spec(req.gpu).memory_bytes,
    )  # fmt: skip


# --------------------------------------------------------------------------------------- recommending


@dataclass(frozen=True)
class Recommendation:
    """Settings that fit: the largest per-device batch at the longest sequence length, and the gradient
    accumulation that keeps the effective batch. `fits` is False when nothing fits (see `notes`)."""

    plan: MemoryPlan  # the plan of the recommended request (plan.request)
    max_batch_size: int  # the largest batch that fits; the recommended one is the largest divisor below it
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def request(self) -> PlanRequest:
        return self.plan.request

    @property
    def fits(self) -> bool:
        return self.plan.fits

    def summary(self) -> str:
        r = self.request
        head = (
            f"{r.gpu}: per_device_train_batch_size={r.batch_size} gradient_accumulation_steps="
            f"{r.gradient_accumulation_steps} max_length={r.seq_len} gradient_checkpointing="
            f"{str(r.gradient_checkpointing).lower()} -> {_gib(self.plan.total)} of {_gib(self.plan.gpu_bytes)}"
        )
        return "\n".join([head, *self.notes])


def _with_batch(req: PlanRequest, batch_size: int, effective: int) -> PlanRequest:
    accumulation = max(1, math.ceil(effective / batch_size))
    return dataclasses.replace(req, batch_size=batch_size, gradient_accumulation_steps=accumulation)


def largest_batch(req: PlanRequest, effective: int) -> int:
    """The largest batch size in 1..effective that fits (0 if none); memory grows with the batch."""
    best, low, high = 0, 1, effective
    while low <= high:
        mid = (low + high) // 2
        if plan_memory(_with_batch(req, mid, effective)).fits:
            best, low = mid, mid + 1
        else:
            high = mid - 1
    return best


def recommend(req: PlanRequest, gpu: str | None = None, min_seq_len: int = 1024) -> Recommendation:
    """Fit `req` on `gpu` (default req.gpu), keeping its effective batch (batch x accumulation): the largest
    batch size that divides it at the requested sequence length; failing that with gradient checkpointing;
    only then shorter sequences (halving, down to `min_seq_len`): users are evaluated at the full context."""
    req = dataclasses.replace(req, gpu=gpu or req.gpu).validate()
    effective = req.batch_size * req.gradient_accumulation_steps
    seq_len = req.seq_len
    while seq_len >= min(min_seq_len, req.seq_len):
        for checkpointing in dict.fromkeys((req.gradient_checkpointing, True)):
            candidate = dataclasses.replace(req, seq_len=seq_len, gradient_checkpointing=checkpointing)
            biggest = largest_batch(candidate, effective)
            if biggest == 0:
                continue
            batch = max(d for d in range(1, biggest + 1) if effective % d == 0)
            notes = []
            if checkpointing and not req.gradient_checkpointing:
                notes.append("gradient checkpointing turned on: without it nothing fits")
            if seq_len < req.seq_len:
                notes.append(
                    f"sequences shortened from {req.seq_len} to {seq_len}: longer examples are dropped or cut"
                )
            if batch < biggest:
                notes.append(f"batch {biggest} would fit too, but {effective} is not a multiple of it")
            return Recommendation(
                plan_memory(_with_batch(candidate, batch, effective)), biggest, tuple(notes)
            )
        seq_len //= 2
    smallest = plan_memory(
        _with_batch(
            dataclasses.replace(req, seq_len=min(min_seq_len, req.seq_len), gradient_checkpointing=True),
            1,
            effective,
        )
    )
    return Recommendation(smallest, 0, (
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


def sft_plan_request(cfg: Any, gpu: str) -> PlanRequest:
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


def plan_for_sft_config(cfg: Any, gpu: str) -> MemoryPlan:
    """Plan an `abtune sft` run: print `format_plan(plan)` at start, warn when `not plan.fits`."""
    return plan_memory(sft_plan_request(cfg, gpu))
