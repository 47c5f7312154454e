"""What the memory planner needs to know about a model and a GPU: shapes, parameter counts, capacities.

The two real Qwen models are built from their published shapes (docs/PROTOCOLS: no download); any other
model is read from a local config.json or a `transformers` config object.

    model_shape("Qwen/Qwen2.5-7B-Instruct").params  # 7,615,616,512
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class ModelShape:
    """A Qwen2/Qwen3-style decoder (Llama layout: GQA attention, SwiGLU MLP, RMSNorm)."""

    name: str
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    attention_bias: bool  # Qwen2 has q/k/v biases
    qk_norm: bool  # Qwen3 normalises q and k per head

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear layer in one decoder layer."""
        h, i = self.hidden_size, self.intermediate_size
        return {
            "q_proj": (h, self.q_dim),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (self.q_dim, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    @property
    def params(self) -> int:
        return total_params(self)

    def with_layers(self, num_layers: int) -> ModelShape:
        from dataclasses import replace

        return replace(self, num_layers=num_layers)

    def to_hf_config(self) -> Any:
        """The transformers config of this shape (Qwen2Config or Qwen3Config), built without the hub."""
        from transformers import Qwen2Config, Qwen3Config

        common = dict(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_kv_heads,
            intermediate_size=self.intermediate_size,
            tie_word_embeddings=self.tie_word_embeddings,
            max_position_embeddings=32768,
            rms_norm_eps=1e-6,
            hidden_act="silu",
        )
        if self.qk_norm:
            return Qwen3Config(head_dim=self.head_dim, attention_bias=self.attention_bias, **common)
        if self.head_dim * self.num_heads != self.hidden_size:
            raise ValueError(f"{self.name}: Qwen2 derives head_dim from hidden_size / num_attention_heads")
        return Qwen2Config(**common)


QWEN25_7B = ModelShape(
    name="Qwen2.5-7B-Instruct", num_layers=28, hidden_size=3584, num_heads=28, num_kv_heads=4, head_dim=128,
    intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False, attention_bias=True, qk_norm=False,
)  # fmt: skip
QWEN3_4B = ModelShape(
    name="Qwen3-4B-Instruct-2507", num_layers=36, hidden_size=2560, num_heads=32, num_kv_heads=8, head_dim=128,
    intermediate_size=9728, vocab_size=151936, tie_word_embeddings=True, attention_bias=False, qk_norm=True,
)  # fmt: skip
KNOWN_MODELS = {"Qwen/Qwen2.5-7B-Instruct": QWEN25_7B, "Qwen/Qwen3-4B-Instruct-2507": QWEN3_4B}


def shape_from_hf_config(config: Any, name: str = "") -> ModelShape:
    """A ModelShape from a transformers config (Qwen2, Qwen3 or another Llama-layout decoder)."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    model_type = getattr(config, "model_type", "")
    return ModelShape(
        name=name or getattr(config, "name_or_path", "") or model_type,
        num_layers=config.num_hidden_layers,
        hidden_size=config.hidden_size,
        num_heads=heads,
        num_kv_heads=getattr(config, "num_key_value_heads", None) or heads,
        head_dim=head_dim,
        intermediate_size=config.intermediate_size,
        vocab_size=config.vocab_size,
        tie_word_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
        attention_bias=model_type == "qwen2" or bool(getattr(config, "attention_bias", False)),
        qk_norm=model_type.startswith("qwen3"),
    )


def model_shape(name_or_path: str) -> ModelShape:
    """The two real Qwen models by hub id (shapes built in code), `tiny:<family>`, or a local directory."""
    if name_or_path in KNOWN_MODELS:
        return KNOWN_MODELS[name_or_path]
    if name_or_path.startswith("tiny:"):
        from agentbench_tuning.models import tiny_config

        return shape_from_hf_config(tiny_config(name_or_path[len("tiny:") :]), name_or_path)
    path = Path(name_or_path) / "config.json"
    if not path.is_file():
        raise ValueError(
            f"model {name_or_path!r}: not one of {sorted(KNOWN_MODELS)} and no {path} here; pass a local model "
            "directory, or build a ModelShape with shape_from_hf_config(transformers_config)"
        )
    from transformers import AutoConfig

    return shape_from_hf_config(AutoConfig.for_model(**json.loads(path.read_text())), name_or_path)


def layer_params(m: ModelShape) -> int:
    bias = (m.q_dim + 2 * m.kv_dim) if m.attention_bias else 0
    norms = 2 * m.hidden_size + (2 * m.head_dim if m.qk_norm else 0)
    return sum(i * o for i, o in m.linear_shapes().values()) + bias + norms


def total_params(m: ModelShape) -> int:
    embeddings = m.vocab_size * m.hidden_size * (1 if m.tie_word_embeddings else 2)
    return embeddings + m.num_layers * layer_params(m) + m.hidden_size


def linear_params(m: ModelShape) -> int:
    """Weights of the decoder's linear layers: what bitsandbytes quantizes (not embeddings or lm_head)."""
    return m.num_layers * sum(i * o for i, o in m.linear_shapes().values())


def lora_modules(targets: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if targets == "all-linear":
        return ALL_LINEAR
    names = (targets,) if isinstance(targets, str) else tuple(targets)
    unknown = [n for n in names if n not in ALL_LINEAR]
    if unknown:
        raise ValueError(f"lora target modules {unknown} are not linear layers of a decoder: {ALL_LINEAR}")
    return names


def adapter_params(m: ModelShape, r: int, targets: str | tuple[str, ...] = "all-linear") -> int:
    """LoRA adds A (r x in) and B (out x r) to each targeted linear layer of every decoder layer."""
    shapes = m.linear_shapes()
    return m.num_layers * sum(r * (shapes[n][0] + shapes[n][1]) for n in lora_modules(targets))


@dataclass(frozen=True)
class GPU:
    name: str
    memory_bytes: int  # total memory as nvidia-smi reports it
    bf16: bool


MiB = 1024**2
GPUS = {
    "t4": GPU("NVIDIA T4 16 GB", 15360 * MiB, bf16=False),
    "l4": GPU("NVIDIA L4 24 GB", 23034 * MiB, bf16=True),
    "a100-40gb": GPU("NVIDIA A100 40 GB", 40960 * MiB, bf16=True),
    "a100-80gb": GPU("NVIDIA A100 80 GB", 81920 * MiB, bf16=True),
    "h100": GPU("NVIDIA H100 80 GB", 81559 * MiB, bf16=True),
    "h200": GPU("NVIDIA H200 141 GB", 143771 * MiB, bf16=True),
}


def gpu_spec(name: str) -> GPU:
    if name not in GPUS:
        raise ValueError(f"gpu={name!r} is unknown; choose one of {', '.join(GPUS)}")
    return GPUS[name]


def gpu_key(device_name: str, memory_bytes: int) -> str | None:
    """The GPUS key of a CUDA device (`torch.cuda.get_device_name()`, `get_device_properties().total_memory`),
    or None for a GPU not in the table."""
    name = device_name.upper()
    if "L40" in name:  # L40/L40S (48 GB) are not L4s
        return None
    for marker, key in (("T4", "t4"), ("L4", "l4"), ("H100", "h100"), ("H200", "h200")):
        if marker in name:
            return key
    if "A100" in name:
        return "a100-80gb" if memory_bytes > 60 * 1024**3 else "a100-40gb"
    return None


def detect_gpu() -> str | None:
    """The GPUS key of this machine's first CUDA device, or None (no CUDA, or a GPU not in the table)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return gpu_key(torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory)
