"""DPO pairs: sources, tokenization with exact completion masks, and the collator that hands them to TRL.

TRL 1.16's DPOTrainer tokenizes `prompt` / `prompt + chosen` / `prompt + rejected` itself and marks as
completion everything after the prompt, so in a whole-trajectory pair the observations (user turns) between
the agent's actions would enter the log-ratio. Here every pair is rendered once per side with the model's own
chat template (`chat.encode_messages`, the same masking SFT uses) and the completion mask is exactly the
trained tokens: each assistant turn's content plus its end-of-turn token, for turns not flagged `loss: false`.
User turns, the assistant header, the prompt's own assistant turns (the injected "Ok.", few-shot examples) are 0.
Step-level pairs (one assistant message per side) go through the same path and come out with the same mask
TRL would give them.

    data = prepare_pairs(cfg.pairs, tokenizer)          # rows: chosen/rejected input_ids + completion_mask
    collator = PreferenceMaskCollator(pad_token_id=tokenizer.pad_token_id)

Pair sources (`pairs.train`): a JSONL file of pairs (`abtune data pairs`), `runs:DIR[,DIR...]` (evaluation
runs paired by `data.from_runs` at `pairs.level`), `gen:alfworld-steps:N` (expert vs a wrong admissible
command at every step of N generated games).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentbench_tuning.chat import IGNORE_INDEX, encode_messages
from agentbench_tuning.rl_config import PairSettings

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

SIDES = ("chosen", "rejected")


# ------------------------------------------------------------------ sources


def _read_pairs_file(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"pairs.train: {path}: no such file; write one with `abtune data pairs RUN... --out F`")
    pairs = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            pair = json.loads(line)
        except ValueError as err:
            raise ValueError(f"{path}:{line_no}: not JSON ({err})") from None
        pairs.append({**pair, "_where": f"{path}:{line_no}"})
    return pairs


def load_pair_source(source: str, level: str, seed: int) -> list[dict[str, Any]]:
    """The pairs of one `pairs.train` entry (see the module docstring for the forms)."""
    if source.startswith("runs:"):
        from agentbench_tuning.data.from_runs import load_run_records, step_pairs, trajectory_pairs

        records = load_run_records([d for d in source[len("runs:"):].split(",") if d])
        pairs = trajectory_pairs(records) if level == "trajectory" else step_pairs(records)
        return [{**p, "_where": f"{source} pair {i}"} for i, p in enumerate(pairs)]
    if source.startswith("gen:alfworld-steps:"):
        from agentbench_tuning.data.generated import alfworld_step_pairs

        n = int(source.rsplit(":", 1)[1])
        return [{**p, "_where": f"{source} pair {i}"} for i, p in enumerate(alfworld_step_pairs(n, seed))]
    if source.startswith("gen:"):
        raise ValueError(f"pairs.train: unknown generated source {source!r}; use gen:alfworld-steps:N")
    return _read_pairs_file(Path(source))


# ------------------------------------------------------------------ one pair


def _messages(value: Any, default_role: str, where: str, field: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": default_role, "content": value}]
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: field {field!r} must be a string or a non-empty list of messages")
    for i, m in enumerate(value):
        if not isinstance(m, dict) or "role" not in m or not isinstance(m.get("content"), str):
            raise ValueError(f"{where}: {field}[{i}] must be a message with 'role' and string 'content'")
    return list(value)


def pair_conversations(pair: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """{"chosen": messages, "rejected": messages}: the prompt (never trained: its assistant turns are the
    harness's injected acknowledgement and few-shot examples) followed by that side's messages with their
    `loss` flags (an assistant message without a flag is trained)."""
    where = pair.get("_where", "pair")
    for key in ("prompt", *SIDES):
        if key not in pair:
            raise ValueError(f"{where}: field {key!r} is missing; a pair has prompt, chosen and rejected")
    prompt = [{"role": m["role"], "content": m["content"], "loss": False}
              for m in _messages(pair["prompt"], "user", where, "prompt")]
    out = {}
    for side in SIDES:
        messages = _messages(pair[side], "assistant", where, side)
        if messages[0]["role"] != "assistant":
            raise ValueError(f"{where}: {side} must start with the assistant's turn, got {messages[0]['role']!r}")
        out[side] = prompt + [{"role": m["role"], "content": m["content"],
                               "loss": bool(m.get("loss", True)) and m["role"] == "assistant"} for m in messages]
    return out


@dataclass(frozen=True)
class EncodedPair:
    chosen_input_ids: list[int]
    chosen_completion_mask: list[int]
    rejected_input_ids: list[int]
    rejected_completion_mask: list[int]

    def row(self) -> dict[str, list[int]]:
        return dict(self.__dict__)

    @property
    def length(self) -> int:
        return max(len(self.chosen_input_ids), len(self.rejected_input_ids))


def encode_pair(pair: dict[str, Any], tokenizer: PreTrainedTokenizerBase) -> EncodedPair:
    """Both sides rendered with the model's template; completion mask 1 exactly on trained assistant tokens."""
    sides = {}
    for side, messages in pair_conversations(pair).items():
        enc = encode_messages(messages, tokenizer)
        sides[side] = (enc.input_ids, [int(label != IGNORE_INDEX) for label in enc.labels])
    return EncodedPair(*sides["chosen"], *sides["rejected"])


# ------------------------------------------------------------------ the data set


@dataclass
class PairData:
    train: Any  # datasets.Dataset of EncodedPair rows
    eval: Any | None
    pairs_train: int  # pairs read
    dropped_overlong: int  # longer than pairs.max_length
    dropped_untrained: int  # a side with no trained token (e.g. every chosen turn was rejected by the env)

    def summary(self) -> str:
        return (f"{len(self.train)} training pairs of {self.pairs_train} read; dropped {self.dropped_overlong} "
                f"over max_length, {self.dropped_untrained} with a side that trains nothing"
                + (f"; {len(self.eval)} eval pairs" if self.eval is not None else ""))


def encode_pairs(pairs: Sequence[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, max_length: int) -> tuple[list[dict], int, int]:
    rows, overlong, untrained = [], 0, 0
    for pair in pairs:
        enc = encode_pair(pair, tokenizer)
        if enc.length > max_length:
            overlong += 1
        elif not any(enc.chosen_completion_mask) or not any(enc.rejected_completion_mask):
            untrained += 1
        else:
            rows.append(enc.row())
    return rows, overlong, untrained


def prepare_pairs(settings: PairSettings, tokenizer: PreTrainedTokenizerBase,
                  extra_train: Sequence[dict] = ()) -> PairData:
    """Read every source, encode, drop what cannot be trained, split off eval pairs."""
    from datasets import Dataset

    pairs = list(extra_train)
    for source in settings.train:
        pairs += load_pair_source(source, settings.level, settings.seed)
    if not pairs:
        raise ValueError(f"pairs.train {settings.train}: no pairs (did every episode succeed, or every one fail?)")
    eval_pairs = [p for s in settings.eval for p in load_pair_source(s, settings.level, settings.seed)]
    if not eval_pairs and settings.eval_fraction > 0:
        rng = random.Random(settings.seed)
        order = list(range(len(pairs)))
        rng.shuffle(order)
        cut = max(1, int(len(pairs) * settings.eval_fraction))
        eval_pairs = [pairs[i] for i in order[:cut]]
        pairs = [pairs[i] for i in order[cut:]]
    rows, overlong, untrained = encode_pairs(pairs, tokenizer, settings.max_length)
    if not rows:
        raise ValueError(f"pairs.train: none of {len(pairs)} pairs is trainable ({overlong} over pairs.max_length="
                         f"{settings.max_length}, {untrained} with an untrained side)")
    eval_rows = encode_pairs(eval_pairs, tokenizer, settings.max_length)[0] if eval_pairs else []
    return PairData(Dataset.from_list(rows), Dataset.from_list(eval_rows) if eval_rows else None,
                    len(pairs), overlong, untrained)


# ------------------------------------------------------------------ collator


@dataclass
class PreferenceMaskCollator:
    """TRL's `DataCollatorForPreference` batch layout (chosen rows, then rejected rows; right padding;
    `input_ids`, `attention_mask`, `completion_mask`) built from our per-token masks instead of "everything
    after the prompt". Reference log-probs, when precomputed, pass through."""

    pad_token_id: int
    max_length: int | None = None  # keep_start truncation, as TRL's; prepare_pairs already drops longer pairs

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        ids, masks = [], []
        for side in SIDES:
            for example in examples:
                ids.append(list(example[f"{side}_input_ids"])[: self.max_length])
                masks.append(list(example[f"{side}_completion_mask"])[: self.max_length])
        width = max(map(len, ids))
        batch = {
            "input_ids": torch.tensor([x + [self.pad_token_id] * (width - len(x)) for x in ids]),
            "attention_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids]),
            "completion_mask": torch.tensor([m + [0] * (width - len(m)) for m in masks]),
        }
        for key in ("ref_chosen_logps", "ref_rejected_logps"):
            if key in examples[0]:
                batch[key] = torch.tensor([example[key] for example in examples])
        return batch


def show_pair_mask(row: dict[str, list[int]], tokenizer: PreTrainedTokenizerBase, side: str = "rejected",
                   fmt: str = "ansi") -> str:
    """One side of an encoded pair with its trained tokens highlighted (the `chat.show_mask` viewer)."""
    from agentbench_tuning.chat import Encoded, show_mask

    ids, mask = row[f"{side}_input_ids"], row[f"{side}_completion_mask"]
    labels = [t if m else IGNORE_INDEX for t, m in zip(ids, mask, strict=True)]
    return show_mask(Encoded(list(ids), labels), tokenizer, fmt=fmt)
