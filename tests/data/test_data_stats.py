"""`describe` on hand-made encodings, so every number can be checked by hand."""

from __future__ import annotations

import pytest

from agentbench_tuning.chat import Encoded
from agentbench_tuning.data import describe
from agentbench_tuning.data.stats import Spread


def test_describe_by_hand():
    conversations = [
        {
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            "task": "db",
            "source": "sim",
        },
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": "d"},
            ],
            "task": "db",
            "source": None,
        },
        {
            "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            "task": None,
            "source": "sim",
        },
    ]
    encoded = [
        Encoded([1] * 4, [-100, -100, 1, 1]),  # 4 tokens, 2 trained
        Encoded([1] * 10, [-100] * 6 + [1] * 4),  # 10 tokens, 4 trained
        Encoded([1] * 6, [-100] * 5 + [1]),  # 6 tokens, 1 trained
    ]
    stats = describe(conversations, encoded, max_length=5)
    assert stats.per_task == {"db": 2, "(none)": 1}
    assert stats.per_source == {"sim": 2, "(none)": 1}
    assert stats.assistant_turns == Spread(1, 1.0, 4 / 3, 2)
    assert stats.tokens == Spread(4, 6.0, 20 / 3, 10)
    assert (stats.total_tokens, stats.trained_tokens, stats.over_limit) == (20, 7, 2)
    assert stats.summary() == (
        "3 conversations; tasks: db 2, (none) 1; sources: sim 2, (none) 1; assistant turns 1-2 (median 1); "
        "tokens 4-10 (median 6); trained 7 of 20 tokens; 2 over 5"
    )


def test_describe_checks_alignment():
    with pytest.raises(ValueError, match="1 conversations but 0 encodings"):
        describe([{"messages": [], "task": None, "source": None}], [])
