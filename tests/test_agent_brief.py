"""The agent brief (`.claude/agents/model-trainer.md`) and its memory cannot go stale: every repository path
they name exists, and every `abtune ...` command they name is a real command whose `--help` works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from agentbench_tuning.cli import app

ROOT = Path(__file__).resolve().parents[1]
BRIEFS = [ROOT / ".claude" / "agents" / "model-trainer.md", ROOT / ".claude" / "agent-memory" / "model-trainer" / "MEMORY.md"]
# A path in the brief is a code span (or a word in one) starting with one of the repository's top folders.
TOP_FOLDERS = ("configs/", "training/", "dataset/", "eval/", "docs/", "scripts/", "src/", "tests/", ".claude/",
               "benchmarks/")  # fmt: skip


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def named_paths(text: str) -> set[str]:
    words = {word.strip(".,;:()") for span in code_spans(text) for word in span.split()}
    return {word for word in words if word.startswith(TOP_FOLDERS)}


def named_commands(text: str) -> set[tuple[str, ...]]:
    """`abtune data from-runs RUN --out X` -> ("data", "from-runs"): the words after `abtune` up to the first
    option, path or placeholder."""
    commands = set()
    for span in code_spans(text):
        for match in re.finditer(r"\babtune((?: [a-z][a-z0-9-]*)*)", span):
            commands.add(tuple(match.group(1).split()))
    return commands


def resolve(words: tuple[str, ...]) -> list[str]:
    """The command path the words name; words after a command that takes no subcommand are its arguments."""
    command = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        if not isinstance(command, TyperGroup):
            break
        sub = command.commands.get(word)
        assert sub is not None, f"`abtune {' '.join([*path, word])}`: no such command (see `abtune --help`)"
        command, path = sub, [*path, word]
    return path


def test_briefs_name_paths_and_commands():
    # The extraction itself: finding nothing would make the tests below pass vacuously.
    text = BRIEFS[0].read_text(encoding="utf-8")
    assert {"configs/debug.yaml", "dataset/inspect_data.py", "docs/colab.md"} <= named_paths(text)
    assert {("sft",), ("eval", "dbbench"), ("data", "from-runs"), ("data", "pairs")} <= named_commands(text)


@pytest.mark.parametrize("brief", BRIEFS, ids=lambda p: p.name)
def test_every_named_path_exists(brief):
    missing = []
    for path in sorted(named_paths(brief.read_text(encoding="utf-8"))):
        if not list(ROOT.glob(path)):  # `configs/qwen3-4b_a100-*.yaml` names a family of presets
            missing.append(path)
    assert not missing, f"{brief.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("brief", BRIEFS, ids=lambda p: p.name)
def test_every_named_command_has_working_help(brief):
    runner = CliRunner()
    commands = sorted({tuple(resolve(words)) for words in named_commands(brief.read_text(encoding="utf-8"))})
    for command in commands:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"`abtune {' '.join(command)} --help` failed:\n{result.output}"
        assert "Usage" in result.output


def test_resolve_rejects_a_command_that_does_not_exist():
    with pytest.raises(AssertionError, match="`abtune data inspect`: no such command"):
        resolve(("data", "inspect"))
    assert resolve(("report", "base", "sft")) == ["report"]  # arguments, not subcommands
