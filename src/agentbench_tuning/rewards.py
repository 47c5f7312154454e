"""Reward functions for GRPO, with TRL's signature: `fn(completions, **kwargs) -> list[float]`.

The episode-success rewards call the benchmark graders themselves, so the training signal and the
evaluation metric cannot drift apart. Shaping terms are separate functions so each is logged on its own.
"""

from __future__ import annotations

# ------------------------------------------------------------------ DB Bench


# ------------------------------------------------------------------ ALFWorld
