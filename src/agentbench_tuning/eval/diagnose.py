"""Training diagnostics: read a run's logs and report what went wrong, with the evidence.

Reads `trainer_state.json` (the `log_history` every Hugging Face / TRL trainer writes; the newest one under
the run directory, checkpoints included) and, when present, a wandb history export (`*.csv` with `_step`)
or a tensorboard scalar export (`*.csv` with `tag,step,value` columns). Checks: NaN/inf, divergence,
overfitting, gradient-norm spikes, learning-rate schedule anomalies, and for GRPO reward collapse,
zero-variance groups, KL and entropy blow-up, clip ratio and response-length collapse.

    abtune diagnose runs/grpo-dbbench
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainingLog:
    rows: list[dict]  # one dict per logged step, keys normalized to TRL's names ("loss", "eval_loss", "kl", ...)
    source: str

    def series(self, key: str) -> list[tuple[int, float]]:
        return [(int(r["step"]), float(r[key])) for r in self.rows if key in r and r[key] is not None]


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str  # "error" | "warning"
    message: str
    evidence: list = field(default_factory=list)  # (step, value) pairs that show it


def _normalize(key: str) -> str:
    """wandb/tensorboard prefix keys with "train/" or "eval/"; TRL's log_history uses "loss", "eval_loss"."""
    if key.startswith("train/"):
        return key[len("train/"):]
    if key.startswith("eval/"):
        return "eval_" + key[len("eval/"):]
    return {"_step": "step", "train/global_step": "step"}.get(key, key)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and {"tag", "step", "value"} <= rows[0].keys():  # tensorboard long format
        by_step: dict[int, dict] = defaultdict(dict)
        for r in rows:
            by_step[int(float(r["step"]))][_normalize(r["tag"])] = _number(r["value"])
        return [{"step": s, **values} for s, values in sorted(by_step.items())]
    out = []
    for lineno, r in enumerate(rows, 2):
        row = {_normalize(k): _number(v) for k, v in r.items() if v not in ("", None)}
        if "step" not in row:
            raise ValueError(f"{path}:{lineno}: no _step/step column; export the wandb history with its steps")
        out.append(row)
    return out


def load_training_log(run_dir: str | Path) -> TrainingLog | None:
    """The run's training log, or None when it has none (an evaluation-only run)."""
    run_dir = Path(run_dir)
    states = sorted(run_dir.rglob("trainer_state.json"), key=lambda p: p.stat().st_mtime)
    if states:
        path = states[-1]
        try:
            history = json.loads(path.read_text())["log_history"]
        except (json.JSONDecodeError, KeyError) as err:
            raise ValueError(f"{path}: not a trainer state with log_history ({err})") from None
        return TrainingLog([dict(r) for r in history if "step" in r], str(path))
    exports = sorted(run_dir.glob("*.csv"))
    if exports:
        return TrainingLog(_read_csv(exports[0]), str(exports[0]))
    return None


# --------------------------------------------------------------------------------------- checks


def check_non_finite(log: TrainingLog) -> Finding | None:
    bad = [(r["step"], k, r[k]) for r in log.rows for k in ("loss", "grad_norm", "eval_loss", "reward", "kl")
           if isinstance(r.get(k), float) and not math.isfinite(r[k])]
    if not bad:
        return None
    step, key, value = bad[0]
    return Finding("nan_inf", "error", f"{key} became {value} at step {step} ({len(bad)} non-finite values); "
                   "lower the learning rate, check the data for empty examples, use bf16 not fp16", bad[:10])


def _finite(points):
    return [(s, v) for s, v in points if math.isfinite(v)]


def check_divergence(log: TrainingLog) -> Finding | None:
    loss = _finite(log.series("loss"))
    if len(loss) < 6:
        return None
    window = max(2, len(loss) // 5)
    lowest = min(statistics.mean(v for _, v in loss[i:i + window]) for i in range(len(loss) - window + 1))
    final = statistics.mean(v for _, v in loss[-window:])
    if final > 1.5 * lowest and final > loss[0][1]:
        return Finding("divergence", "error", f"training loss rose to {final:.3g} (mean of last {window} logs) "
                       f"from a low of {lowest:.3g} and above its start {loss[0][1]:.3g}: the run diverged; "
                       "lower the learning rate or raise warmup", loss[-window:])
    return None


def check_overfitting(log: TrainingLog) -> Finding | None:
    evals = _finite(log.series("eval_loss"))
    if len(evals) < 3:
        return None
    best = min(range(len(evals)), key=lambda i: evals[i][1])
    after = evals[best:]
    train = [(s, v) for s, v in _finite(log.series("loss")) if s >= evals[best][0]]
    rising = len(after) >= 3 and all(b[1] > a[1] for a, b in zip(after, after[1:], strict=False))
    if rising and len(train) >= 2 and train[-1][1] < train[0][1]:
        return Finding("overfitting", "warning", f"validation loss rose from {evals[best][1]:.3g} at step "
                       f"{evals[best][0]} to {after[-1][1]:.3g} while training loss fell from {train[0][1]:.3g} "
                       f"to {train[-1][1]:.3g}: keep the checkpoint of step {evals[best][0]}, train fewer epochs "
                       "or add data", after)
    return None


def check_grad_spikes(log: TrainingLog) -> Finding | None:
    grads = _finite(log.series("grad_norm"))
    if len(grads) < 5:
        return None
    median = statistics.median(v for _, v in grads)
    spikes = [(s, v) for s, v in grads if median > 0 and v > 10 * median]
    if spikes:
        return Finding("grad_spikes", "warning", f"{len(spikes)} gradient-norm spikes above 10x the median "
                       f"{median:.3g} (largest {max(v for _, v in spikes):.3g} at step "
                       f"{max(spikes, key=lambda p: p[1])[0]}); check max_grad_norm and the batch that caused it",
                       spikes[:10])
    return None


def check_learning_rate(log: TrainingLog) -> Finding | None:
    lrs = log.series("learning_rate")
    if len(lrs) < 3:
        return None
    if all(v == 0 for _, v in lrs[1:]):
        return Finding("lr_schedule", "error", "learning rate is 0 at every logged step after the first: "
                       "nothing trains (warmup longer than the run, or a zero learning_rate)", lrs[:10])
    peak = max(range(len(lrs)), key=lambda i: lrs[i][1])
    rises = [(a, b) for a, b in zip(lrs[peak:], lrs[peak + 1:], strict=False) if b[1] > a[1] * 1.01]
    if rises:
        return Finding("lr_schedule", "warning", f"learning rate rose again after its peak at step {lrs[peak][0]} "
                       f"(e.g. {rises[0][0][1]:.3g} -> {rises[0][1][1]:.3g} at step {rises[0][1][0]}): a restarted "
                       "schedule, usually from resuming with a changed max_steps", [p for pair in rises[:5] for p in pair])
    return None


def check_reward_collapse(log: TrainingLog) -> Finding | None:
    reward = _finite(log.series("reward"))
    if len(reward) < 6:
        return None
    window = max(2, len(reward) // 5)
    means = [statistics.mean(v for _, v in reward[i:i + window]) for i in range(len(reward) - window + 1)]
    peak, final = max(means), means[-1]
    spread = peak - min(v for _, v in reward)
    if spread > 0 and peak - final > 0.5 * spread and final < peak:
        return Finding("reward_collapse", "error", f"mean reward fell from a peak of {peak:.3g} to {final:.3g} "
                       f"(last {window} logs): the policy collapsed; lower the learning rate or raise beta",
                       reward[-window:])
    return None


def check_zero_variance(log: TrainingLog) -> Finding | None:
    frac = _finite(log.series("frac_reward_zero_std"))
    if not frac:
        return None
    mean = statistics.mean(v for _, v in frac)
    if mean > 0.5:
        return Finding("zero_variance_groups", "warning", f"on average {100 * mean:.0f}% of GRPO groups had the "
                       "same reward for every completion (no learning signal): tasks are too easy or too hard; "
                       "raise num_generations or temperature, or filter the task set", frac[-10:])
    return None


def check_kl_entropy(log: TrainingLog) -> list[Finding]:
    found = []
    for key, name in (("kl", "KL"), ("entropy", "entropy")):
        points = _finite(log.series(key))
        if len(points) < 5:
            continue
        start = statistics.median(v for _, v in points[: max(2, len(points) // 5)])
        final = points[-1][1]
        threshold = 10 * start if start > 0 else 1.0
        if final > max(threshold, 0.5 if key == "kl" else 0):
            found.append(Finding(f"{key}_blowup", "error", f"{name} grew from about {start:.3g} to {final:.3g}: the "
                                 "policy is running away from the reference; lower the learning rate or raise beta",
                                 points[-5:]))
        elif key == "entropy" and start > 0 and final < 0.1 * start:
            found.append(Finding("entropy_collapse", "warning", f"entropy fell from about {start:.3g} to {final:.3g}: "
                                 "the policy became near-deterministic, so GRPO groups stop differing", points[-5:]))
    return found


def check_clip_ratio(log: TrainingLog) -> Finding | None:
    clip = _finite(log.series("clip_ratio/region_mean"))
    if clip and statistics.mean(v for _, v in clip) > 0.2:
        return Finding("clip_ratio", "warning", f"on average {100 * statistics.mean(v for _, v in clip):.0f}% of "
                       "tokens were clipped: updates are too large for the trust region; lower the learning rate "
                       "or num_iterations", clip[-10:])
    return None


def check_length_collapse(log: TrainingLog) -> Finding | None:
    length = _finite(log.series("completions/mean_length"))
    if len(length) < 5:
        return None
    start = statistics.median(v for _, v in length[: max(2, len(length) // 5)])
    final = length[-1][1]
    if start > 0 and final < 0.3 * start:
        return Finding("length_collapse", "warning", f"mean completion length fell from about {start:.0f} to "
                       f"{final:.0f} tokens: the policy learned to answer (almost) nothing", length[-5:])
    return None


CHECKS = (check_non_finite, check_divergence, check_overfitting, check_grad_spikes, check_learning_rate,
          check_reward_collapse, check_zero_variance, check_kl_entropy, check_clip_ratio, check_length_collapse)


def diagnose(log: TrainingLog) -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        result = check(log)
        findings.extend(result if isinstance(result, list) else [result] if result else [])
    return findings


def format_findings(log: TrainingLog, findings: list[Finding]) -> str:
    steps = [int(r["step"]) for r in log.rows]
    head = f"{log.source}: {len(log.rows)} log entries, steps {min(steps, default=0)}-{max(steps, default=0)}"
    if not findings:
        return head + "\nno problems found"
    lines = [head]
    for f in findings:
        lines.append(f"[{f.severity}] {f.check}: {f.message}")
        lines.append("    evidence: " + ", ".join(str(e) for e in f.evidence[:6]))
    return "\n".join(lines)
