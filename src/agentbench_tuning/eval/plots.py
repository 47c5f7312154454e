"""PNG plots for reports: success by type with Wilson CI bars, status breakdown, learning curves.

matplotlib with the Agg backend, so it works headless (CI, Colab background cells).
"""

from __future__ import annotations

from pathlib import Path

LEARNING_KEYS = ("loss", "eval_loss", "reward", "kl", "entropy", "completions/mean_length")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def per_type_plot(runs, path: Path) -> Path:
    plt = _pyplot()
    types = sorted({t for run in runs for t in run.summary["per_type"]})
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(types) * len(runs)), 3.5))
    for k, run in enumerate(runs):
        stats = [run.summary["per_type"].get(t) for t in types]
        xs = [i + k * width for i in range(len(types))]
        rates = [100 * s["rate"] if s else 0 for s in stats]
        lows = [100 * (s["rate"] - s["ci"]["low"]) if s else 0 for s in stats]
        highs = [100 * (s["ci"]["high"] - s["rate"]) if s else 0 for s in stats]
        ax.bar(xs, rates, width, yerr=[lows, highs], capsize=3, label=run.name)
    ax.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(types))], types, rotation=20)
    ax.set_ylabel("success % (95% Wilson CI)")
    ax.set_ylim(0, 100)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def status_plot(runs, path: Path) -> Path:
    plt = _pyplot()
    statuses = sorted({s for run in runs for s in run.summary["status"]})
    fig, ax = plt.subplots(figsize=(6, 0.6 * len(runs) + 1.5))
    left = [0.0] * len(runs)
    for status in statuses:
        values = [100 * run.summary["status"].get(status, 0.0) for run in runs]
        ax.barh([run.name for run in runs], values, left=left, label=status)
        left = [a + b for a, b in zip(left, values, strict=False)]
    ax.set_xlabel("% of episodes")
    ax.set_xlim(0, 100)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curves(runs, path: Path) -> Path | None:
    """One panel per logged quantity, one line per run with training logs; None when no run has any."""
    logs = [(run.name, run.training) for run in runs if run.training is not None]
    keys = [k for k in LEARNING_KEYS if any(log.series(k) for _, log in logs)]
    if not keys:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(3.5 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=False):
        for name, log in logs:
            points = log.series(key)
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], label=name)
        ax.set_title(key)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
