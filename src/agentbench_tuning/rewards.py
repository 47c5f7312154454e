"""Reward functions for GRPO, with TRL's signature: `fn(completions, **kwargs) -> list[float]`.

The episode-success rewards call the benchmark graders themselves, so the training signal and the
evaluation metric cannot drift apart. Shaping terms are separate functions so each is logged on its own.
"""

from __future__ import annotations

# ------------------------------------------------------------------ DB Bench


# ------------------------------------------------------------------ ALFWorld
# Episode rewards read what the ALFWorld harness (`envs.alfworld.AlfworldEnv`) put in the episode's final info;
# the rollout passes `won`, `valid_action_fraction` and (simulator only) `progress` through as columns.


def alfworld_success(completions, won, **kwargs) -> list[float]:
    """The benchmark metric: 1.0 when the harness says the game was won, else 0.0."""
    return [1.0 if w else 0.0 for w in won]


def alfworld_valid_action(completions, valid_action_fraction, **kwargs) -> list[float]:
    """Shaping: fraction of steps whose action was admissible as written (no BLEU snapping needed)."""
    return [float(f) for f in valid_action_fraction]


def alfworld_progress(completions, progress, **kwargs) -> list[float]:
    """Shaping (simulator only): fraction of the goal's sub-goals reached at the end (e.g. hot but not placed = 0.5)."""
    return [float(p) for p in progress]
