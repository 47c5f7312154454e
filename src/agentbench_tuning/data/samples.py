"""A small made-up sample dataset shipped with the package (no benchmark data): household-robot and
SQL-table agent conversations in all three input formats, one exact duplicate and `loss: false` turns.
Used by `python dataset/inspect_data.py --debug` and by tests; it also works from a pip install (Colab).

    python -c "from agentbench_tuning.data import sample_path, load_conversations as l; print(l(sample_path()).summary())"
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_path() -> Path:
    """Path of the packaged sample file (a JSON array of records)."""
    return Path(str(resources.files("agentbench_tuning.data") / "sample_conversations.json"))
