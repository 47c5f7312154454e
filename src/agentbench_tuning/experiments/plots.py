"""Sweep and ablation plots (matplotlib, PNG): optimisation history, Pareto front, variant bars with CIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def history_plot(study: Any, path: Path) -> Path:
    """Each finished trial's first objective value and the best so far."""
    from optuna.trial import TrialState

    plt = _pyplot()
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    xs = [t.number for t in trials]
    ys = [t.values[0] for t in trials]
    maximize = study.directions[0].name == "MAXIMIZE"
    best, running = [], None
    for y in ys:
        running = y if running is None else (max(running, y) if maximize else min(running, y))
        best.append(running)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter(xs, ys, label="trial")
    ax.plot(xs, best, color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("objective (validation)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pareto_plot(study: Any, objectives: list[str], path: Path) -> Path:
    from optuna.trial import TrialState

    plt = _pyplot()
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    front = {t.number for t in study.best_trials}
    fig, ax = plt.subplots(figsize=(5, 4))
    for trial in trials:
        on_front = trial.number in front
        ax.scatter(trial.values[0], trial.values[1], color="C3" if on_front else "C0", zorder=3 if on_front else 2)
        ax.annotate(str(trial.number), (trial.values[0], trial.values[1]), fontsize=7)
    ax.set_xlabel(objectives[0])
    ax.set_ylabel(objectives[1])
    ax.set_title("Pareto front (red)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def variants_plot(rows: list[dict], path: Path) -> Path:
    """Mean test score per variant with its 95% CI."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows)), 3.5))
    names = [r["variant"] for r in rows]
    means = [r["mean"] for r in rows]
    err = [[m - r["ci_low"] for m, r in zip(means, rows, strict=True)],
           [r["ci_high"] - m for m, r in zip(means, rows, strict=True)]]
    ax.bar(names, means, yerr=err, capsize=4, color=["C0"] + ["C1"] * (len(rows) - 1))
    ax.set_ylabel("test score (mean over seeds, 95% CI)")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
