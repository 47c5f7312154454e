"""Evaluation tests reuse the toy environment and scripted generator of tests/rollout."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "rollout"))
