"""`abtune prompts import` reads both harnesses' original prompts from a (fake) AgentBench checkout."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agentbench_tuning.cli import app


def test_prompts_import_writes_both_files(tmp_path, fake_agentbench):
    out = tmp_path / "prompts"
    result = CliRunner().invoke(app, ["prompts", "import", "--agentbench", str(fake_agentbench), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "dbbench_instruction.txt").read_text() == "\nDUMMY RULES\n"
    saved = json.loads((out / "alfworld_prompts.json").read_text())
    assert saved["instruction"] == "DUMMY INSTRUCTION" and saved["acknowledgement"] == "DUMMY ACK"


def test_prompts_import_names_a_missing_checkout(tmp_path):
    result = CliRunner().invoke(app, ["prompts", "import", "--agentbench", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not a directory" in result.output
