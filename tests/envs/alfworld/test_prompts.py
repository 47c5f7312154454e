"""Our 1-shot examples are stable; the importer reads a (fake) AgentBench v0.2 checkout."""

from __future__ import annotations

import hashlib
import json

import pytest

from agentbench_tuning.envs.alfworld.prompts import (
    EXAMPLE_KEYS,
    default_prompts,
    import_agentbench_prompts,
    load_prompts,
    task_type_of,
)
from agentbench_tuning.envs.alfworld.world import CLEAN, TWO

# Changing the simulator or expert changes the shipped examples; update this hash deliberately.
EXAMPLES_SHA256 = "536490b8c5695273b373b60787203fb01aedf292ee5bb1a5c53dc87109d70473"


def test_examples_are_pinned_and_well_formed():
    prompts = default_prompts()
    blob = json.dumps(prompts.examples, sort_keys=True).encode()
    assert hashlib.sha256(blob).hexdigest() == EXAMPLES_SHA256
    for key in EXAMPLE_KEYS.values():
        turns = prompts.examples[key]
        assert len(turns) % 2 == 0 and turns[0].startswith("You are in the middle of a room.")
        assert all("ACTION: " in t for t in turns[1::2]) and "AVAILABLE ACTIONS" not in "".join(turns)


def test_task_type_from_folder_prefix():
    assert task_type_of("pick_clean_then_place_in_recep-Mug-None-Cabinet-1/trial_x") == CLEAN
    assert task_type_of("pick_two_obj_and_place-Pen-None-Desk-3/trial_y") == TWO
    with pytest.raises(ValueError, match="must start with"):
        task_type_of("juggling-Ball/trial_z")


def test_import_agentbench_prompts(tmp_path, fake_agentbench):
    path = import_agentbench_prompts(fake_agentbench, tmp_path / "out")
    prompts = load_prompts(path)
    assert prompts.instruction == "DUMMY INSTRUCTION" and prompts.acknowledgement == "DUMMY ACK"
    assert prompts.example_for(CLEAN) == ["clean obs", "ACTION: clean"]


def test_import_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="task.py not found"):
        import_agentbench_prompts(tmp_path, tmp_path / "out")
    bad = tmp_path / "p.json"
    bad.write_text('{"instruction": "x"}')
    with pytest.raises(ValueError, match="p.json: missing field 'acknowledgement'"):
        load_prompts(bad)
