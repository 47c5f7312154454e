"""Measure the peak memory of a real training step at the real shapes, without a GPU: on fake tensors.

The model is built on the `meta` device (PEFT injects LoRA there), then every parameter is replaced by a
FakeTensor on `cpu`: shapes, dtypes and storages exist, no data does. One `TorchDispatchMode` sees every
op of the forward, backward and optimizer step and keeps the sum of the bytes of the storages alive (a
storage counts from the op that creates it until Python frees it); its maximum is the traced peak.

Where the CPU path would differ from the CUDA one, the trace takes the CUDA path (`gpu_semantics`):
- dropout keeps a 1-byte mask (`native_dropout`, as on CUDA) instead of CPU's input-dtype noise tensor;
- TRL's fused LM head folds each logits tile in place with Triton on CUDA; on CPU it would allocate fp32
  temporaries, so the folds are replaced by in-place no-ops (the tiles themselves are still allocated);
- `find_packed_sequence_indices` answers "not packed" (it reads values, which fake tensors do not have),
  so the attention mask is skipped as it is for an unpadded batch on a GPU.

What it cannot see (the planner adds it as an allowance or analytically, see docs/planning.md): allocator
fragmentation and the CUDA context, kernel workspaces, bitsandbytes (4-bit weights cannot be created
under fake mode: the NF4 bytes replace the traced bf16 linear weights analytically; 8-bit optimizer state
likewise), NCCL buffers, and vLLM.

    python -c "from agentbench_tuning.plan_trace import trace_step; from agentbench_tuning.plan import *;
               print(trace_step(PlanRequest(model=model_shape('Qwen/Qwen2.5-7B-Instruct'), seq_len=2048)))"
"""

from __future__ import annotations

import contextlib
import functools
import time
import weakref
from dataclasses import dataclass, replace
from typing import Any
from unittest import mock

from agentbench_tuning.plan import (
    DTYPE_BYTES,
    EIGHT_BIT_OPTIMS,
    PlanRequest,
    adapter_dtype_bytes,
    optimizer_bytes,
    weights_bytes,
)
from agentbench_tuning.plan_shapes import lora_modules, total_params


@dataclass(frozen=True)
class TraceResult:
    request: PlanRequest
    num_layers: int
    traced_peak: int  # bytes of live storages at the peak of the traced step
    peak_phase: str  # forward | backward | optimizer | reference
    analytic: int  # bytes added for what cannot run under fake tensors (NF4 weights, 8-bit optimizer state)
    seconds: float

    @property
    def peak(self) -> int:
        return self.traced_peak + self.analytic


def _live_bytes_mode():
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class LiveBytes(TorchDispatchMode):
        """Sum of the bytes of live storages; its maximum and the phase it was reached in."""

        def __init__(self):
            super().__init__()
            self.alive: dict[int, weakref.ref] = {}
            self.current = self.peak = 0
            self.phase = self.peak_phase = "setup"

        def track(self, tensor) -> None:
            storage = tensor.untyped_storage()
            key = id(storage)
            if key in self.alive:
                return
            nbytes = storage.nbytes()
            self.alive[key] = weakref.ref(storage, functools.partial(self._released, key, nbytes))
            self.current += nbytes
            if self.current > self.peak:
                self.peak, self.peak_phase = self.current, self.phase

        def _released(self, key: int, nbytes: int, _ref: object) -> None:
            self._free(key, nbytes)

        def _free(self, key: int, nbytes: int) -> None:
            self.current -= nbytes
            self.alive.pop(key, None)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.track(t)
            return out

    return LiveBytes()


@contextlib.contextmanager
def gpu_semantics() -> Any:
    """Make the CPU trace allocate what the CUDA step allocates (see the module docstring)."""
    import torch
    import transformers.masking_utils as masking
    import trl.kernels.chunked_logprob as chunked

    def cuda_dropout(input, p=0.5, training=True, inplace=False):
        if not training or p == 0:
            return input
        return torch.native_dropout(input, p, True)[0]

    def in_place(*args, **kwargs):
        return None

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch.nn.functional, "dropout", cuda_dropout))
        stack.enter_context(mock.patch.object(masking, "find_packed_sequence_indices", lambda _: None))
        for name in ("_forward_tile", "_backward_tile", "_addmm_fp32"):
            stack.enter_context(mock.patch.object(chunked, name, in_place))
        yield


def _torch_dtype(name: str):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def _materialize_fake(model) -> None:
    """Replace meta parameters and buffers by fake cpu tensors (call inside FakeTensorMode); ties survive."""
    import torch

    made: dict[int, torch.Tensor] = {}
    for module in model.modules():
        for kind in ("_parameters", "_buffers"):
            table = getattr(module, kind)
            for name, t in list(table.items()):
                if t is None:
                    continue
                if id(t) not in made:
                    empty = torch.empty(t.shape, dtype=t.dtype, device="cpu")
                    made[id(t)] = (
                        torch.nn.Parameter(empty, t.requires_grad) if kind == "_parameters" else empty
                    )
                table[name] = made[id(t)]


def build_model(req: PlanRequest) -> Any:
    """The model a TRL trainer trains for `req`, on the meta device: fused LM head, LoRA as TRL sets it up."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    # QLoRA's frozen base is traced in the compute dtype; the NF4 difference is added analytically.
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(
            req.model.to_hf_config(), dtype=_torch_dtype(req.dtype), attn_implementation="sdpa"
        )
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    if req.finetune != "full":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(
            r=req.lora_r, lora_alpha=2 * req.lora_r, lora_dropout=req.lora_dropout,
            target_modules=list(lora_modules(req.lora_targets)), bias="none", task_type="CAUSAL_LM",
        )  # fmt: skip
        model = get_peft_model(model, lora)
        for param in model.parameters():
            if param.requires_grad:  # fp32 from PEFT; TRL casts QLoRA adapters to bf16
                param.data = param.data.to(torch.float32 if adapter_dtype_bytes(req) == 4 else torch.bfloat16)
    model.train()
    if req.gradient_checkpointing:
        model.gradient_checkpointing_enable({"use_reentrant": False})
        if req.finetune != "full":
            model.enable_input_require_grads()
    return model


def _optimizer(req: PlanRequest, model):
    import torch

    if req.optim in EIGHT_BIT_OPTIMS:
        return None  # bitsandbytes cannot run on fake tensors: its state is added analytically
    params = [p for p in model.parameters() if p.requires_grad]
    # On CUDA, plain adamw_torch takes the foreach path (CPU would default to a per-tensor loop).
    fused = req.optim == "adamw_torch_fused"
    return torch.optim.AdamW(params, lr=1e-5, fused=fused, foreach=not fused)


def _micro_step(req: PlanRequest, model, counter) -> None:
    import torch

    sequences = req.batch_size * (2 if req.method == "dpo" else 1)  # DPO: chosen and rejected together
    ids = torch.zeros(sequences, req.seq_len, dtype=torch.long)
    autocast = torch.autocast("cpu", dtype=_torch_dtype(req.dtype), enabled=req.dtype != "fp32")
    if req.method == "dpo" and not req.dpo_precompute_ref and req.finetune != "full":
        counter.phase = "reference"
        with torch.no_grad(), autocast, model.disable_adapter():
            model(input_ids=ids, labels=ids, fused_lm_head=True).log_probs.sum()
    counter.phase = "forward"
    with autocast:
        if req.loss == "chunked":
            loss = model(input_ids=ids, labels=ids, fused_lm_head=True).loss
        else:
            loss = model(input_ids=ids, labels=ids).loss
    counter.phase = "backward"
    loss.backward()


def _create_optimizer_state(model, optimizer, counter) -> None:
    """Step once on zero gradients, untraced, so that the traced step already holds AdamW's state (the
    steady state of training; a first step without state peaks lower). Saves tracing a whole first step."""
    import torch

    if optimizer is None:
        return
    for param in model.parameters():
        if param.requires_grad:
            param.grad = torch.zeros_like(param)
    optimizer.step()
    model.zero_grad(set_to_none=True)
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                counter.track(value)


def trace_step(req: PlanRequest, num_layers: int | None = None) -> TraceResult:
    """Trace one optimizer step (with up to 2 micro-batches: more repeat the same memory) of `req` on fake
    tensors, AdamW's state already allocated; `num_layers` overrides the depth (see `trace_extrapolated`)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    req = req.validate()
    if req.method == "dpo" and not req.dpo_precompute_ref and req.finetune == "full":
        raise ValueError(
            "tracing DPO with a separate full reference model is not implemented; plan it instead"
        )
    if num_layers is not None:
        req = replace(req, model=req.model.with_layers(num_layers))
    started = time.perf_counter()
    model = build_model(req)
    counter = _live_bytes_mode()
    with FakeTensorMode(), gpu_semantics():
        _materialize_fake(model)
        for t in [*model.parameters(), *model.buffers()]:
            counter.track(t)
        optimizer = _optimizer(req, model)
        _create_optimizer_state(model, optimizer, counter)
        with counter:
            for _ in range(min(req.gradient_accumulation_steps, 2)):
                _micro_step(req, model, counter)
            counter.phase = "optimizer"
            if optimizer is not None:
                optimizer.step()
            model.zero_grad(set_to_none=True)
    return TraceResult(
        request=req,
        num_layers=req.model.num_layers,
        traced_peak=counter.peak,
        peak_phase=counter.peak_phase,
        analytic=_analytic_bytes(req),
        seconds=time.perf_counter() - started,
    )


def _analytic_bytes(req: PlanRequest) -> int:
    """Bytes the trace could not create: NF4 instead of the traced compute-dtype weights, 8-bit optimizer state."""
    extra = 0
    if req.finetune == "qlora":
        extra += weights_bytes(req) - total_params(req.model) * DTYPE_BYTES[req.dtype]
    if req.optim in EIGHT_BIT_OPTIMS:
        extra += optimizer_bytes(req)
    return extra


def trace_extrapolated(req: PlanRequest, depths: tuple[int, int] = (2, 4)) -> TraceResult:
    """Trace two shallow copies of the model and extend linearly per layer to the real depth (every decoder
    layer has the same shapes, so each adds the same bytes)."""
    low, high = (trace_step(req, num_layers=n) for n in depths)
    per_layer = (high.traced_peak - low.traced_peak) / (depths[1] - depths[0])
    peak = round(high.traced_peak + per_layer * (req.model.num_layers - depths[1]))
    analytic = _analytic_bytes(req)
    return TraceResult(req, req.model.num_layers, peak, high.peak_phase, analytic, low.seconds + high.seconds)
