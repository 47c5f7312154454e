"""Training data from evaluation runs, read from the one record format (`agentbench_tuning.records`).

- `sft_from_runs`: rejection-sampling SFT data. Each kept episode becomes one conversation whose trained turns
  are exactly the agent's own (`sampled`) turns that the environment did not reject (`failed`); the
  instruction, the injected acknowledgement, few-shot turns and observations are context (`loss: false`).
- `trajectory_pairs` / `step_pairs`: DPO pairs of the same task (the same initial conversation): a successful
  trajectory (chosen) against a failed one (rejected), ETO style. Whole-trajectory pairs carry every message
  after the shared task prompt, with `loss` flags so a collator can keep observations out of the log-ratio;
  step-level pairs share the history up to the first turn where the two episodes differ and hold one
  assistant message each.

    conversations = sft_from_runs(["runs/eval/sft-t0.7"], success_only=True)
    pairs = trajectory_pairs(load_run_records(["runs/eval/expert", "runs/eval/explore"]))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agentbench_tuning.records import TASK_ERROR, latest_records


def load_run_records(run_dirs: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every record of the runs (one per (index, seed) each), with `run` set to its directory."""
    records = []
    for run_dir in run_dirs:
        path = Path(run_dir) / "records.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no records; pass run directories written by `abtune eval`")
        records += [{**r, "run": str(run_dir)} for r in latest_records(path)]
    return records


def _trained(message: dict[str, Any]) -> bool:
    return message["role"] == "assistant" and bool(message.get("sampled")) and not message.get("failed")


def training_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in the data schema: assistant turns get `loss` from the record's flags; a trailing user
    message (the observation after the last action) is dropped, since nothing follows it to learn."""
    out = []
    for message in messages:
        item = {"role": message["role"], "content": message["content"]}
        if message["role"] == "assistant":
            item["loss"] = _trained(message)
        out.append(item)
    while out and out[-1]["role"] != "assistant":
        out.pop()
    return out


def sft_from_runs(run_dirs: Iterable[str | Path], success_only: bool = True) -> list[dict[str, Any]]:
    """One SFT conversation per kept episode (successful ones by default; never a `task error`)."""
    conversations = []
    for record in load_run_records(run_dirs):
        if record["status"] == TASK_ERROR or (success_only and not record["success"]):
            continue
        messages = training_messages(record["messages"])
        if not any(m.get("loss") for m in messages):
            continue  # nothing of the agent's own to learn
        conversations.append({
            "messages": messages, "task": record["benchmark"], "source": f"run:{record['run']}/{record['type']}",
            "index": record["index"], "seed": record["seed"], "agent": record["agent"],
        })
    return conversations


def _task_prompt(record: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """(position of the first agent turn, the messages before it): the task as the agent first saw it."""
    messages = record["messages"]
    first = next((i for i, m in enumerate(messages) if m["role"] == "assistant" and m.get("sampled")), len(messages))
    return first, [{"role": m["role"], "content": m["content"]} for m in messages[:first]]


def _task_key(prompt: list[dict[str, Any]]) -> str:
    """The initial conversation with ALFWorld's action list cut: v0.2 removes the list from an observation once
    the agent has acted on it, so an episode that ended at its first turn still shows it and the others do not."""
    return repr([{**m, "content": m["content"].split("AVAILABLE ACTIONS")[0]} for m in prompt])


def _groups(records: Sequence[dict[str, Any]]) -> list[tuple[list[dict], list[dict]]]:
    """(successes, failures) of each task, a task being the benchmark plus the initial conversation."""
    by_task: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        if record["status"] == TASK_ERROR:
            continue
        _, prompt = _task_prompt(record)
        by_task[(record["benchmark"], _task_key(prompt))].append(record)
    groups = []
    for group in by_task.values():
        wins = sorted((r for r in group if r["success"]), key=lambda r: (r["turns"], r["run"], r["seed"]))
        losses = sorted((r for r in group if not r["success"]), key=lambda r: (r["run"], r["seed"]))
        if wins and losses:
            groups.append((wins, losses))
    return groups


def trajectory_pairs(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each failure against the shortest success of its task: prompt = the task's initial conversation,
    chosen / rejected = everything after it (observations `loss: false`, rejected turns all `loss: true`
    since DPO pushes them down; the chosen side's rejected actions `loss: false`)."""
    pairs = []
    for wins, losses in _groups(records):
        chosen = wins[0]
        start, prompt = _task_prompt(chosen)
        for lost in losses:
            lost_start, _ = _task_prompt(lost)
            pairs.append({
                "prompt": prompt,
                "chosen": _completion(chosen["messages"][start:], chosen_side=True),
                "rejected": _completion(lost["messages"][lost_start:], chosen_side=False),
                "task": chosen["benchmark"], "index": chosen["index"], "type": chosen["type"], "level": "trajectory",
            })
    return pairs


def _completion(messages: Sequence[dict[str, Any]], chosen_side: bool) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        item = {"role": m["role"], "content": m["content"]}
        if m["role"] == "assistant":
            item["loss"] = _trained(m) if chosen_side else bool(m.get("sampled"))
        else:
            item["loss"] = False
        out.append(item)
    while out and out[-1]["role"] != "assistant":
        out.pop()
    return out


def step_pairs(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """At the first turn where a failure departs from a success of the same task: shared history as the
    prompt, the success's turn as chosen, the failure's as rejected. A chosen turn the env rejected is skipped."""
    pairs = []
    for wins, losses in _groups(records):
        for lost in losses:
            for won in wins:
                pair = _first_divergence(won["messages"], lost["messages"])
                if pair is not None:
                    pairs.append({**pair, "task": won["benchmark"], "index": won["index"], "type": won["type"],
                                  "level": "step"})
                    break
    return pairs


def _first_divergence(won: Sequence[dict], lost: Sequence[dict]) -> dict[str, Any] | None:
    for i, (a, b) in enumerate(zip(won, lost, strict=False)):
        if a["role"] != b["role"]:
            return None
        if a["content"] == b["content"]:
            continue
        if a["role"] != "assistant" or not a.get("sampled") or a.get("failed"):
            return None  # the episodes differ in what the environment said, or the chosen turn was a mistake
        prompt = [{"role": m["role"], "content": m["content"]} for m in won[:i]]
        return {"prompt": prompt, "chosen": [{"role": "assistant", "content": a["content"]}],
                "rejected": [{"role": "assistant", "content": b["content"]}]}
    return None
