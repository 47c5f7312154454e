"""Static checks CI runs: mypy over src/ (configured in pyproject.toml, basic mode plus per-module exceptions
with reasons), ruff at line length 120, and a ratchet on type hints: no public function in src/ without
annotations beyond the ones listed here (each loosely typed today, mostly tokenizers and trainers kept
untyped so torch and TRL load lazily). Annotate one and take it off the list.

    mypy && ruff check src tests        # by hand, from the repository root
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "agentbench_tuning"

# module path (relative to src/agentbench_tuning) : qualified name
KNOWN_UNTYPED = {
    "chat.py:encode_messages",
    "chat.py:show_mask",
    "chat.py:template_form",
    "chat.py:turn_stop_ids",
    "checkpoints.py:load_gguf",
    "checkpoints.py:load_gguf_tokenizer",
    "cli/app.py:friendly",
    "cli/eval.py:build_eval_config",
    "cli/eval.py:run_eval",
    "config.py:config_to_dict",
    "config.py:load_config",
    "data/curation.py:filter_by_length",
    "data/curation.py:prepare_conversations",
    "data/tokenized.py:to_dataset",
    "data/tokenized.py:tokenized_dataset",
    "envs/dbbench/questions.py:aggregation",
    "eval/plots.py:learning_curves",
    "eval/plots.py:per_type_plot",
    "eval/plots.py:status_plot",
    "eval/runner.py:play_and_record",
    "eval/runner.py:summarize_run",
    "eval/stats.py:plain_verdict",
    "eval/stats.py:seed_spread",
    "eval/stats.py:summarize_records",
    "models.py:load_tokenizer",
    "models.py:offline_tokenizer",
    "models.py:quantization_config",
    "models.py:tiny_config",
    "models.py:torch_dtype",
    "rewards.py:alfworld_progress",
    "rewards.py:alfworld_success",
    "rewards.py:alfworld_valid_action",
    "rewards.py:dbbench_format",
    "rewards.py:dbbench_sql_execution",
    "rewards.py:dbbench_success",
    "rollout/generator.py:decode_completion",
    "rollout/generator.py:render_prompt",
    "rollout/generator.py:stop_token_ids",
    "rollout/hf.py:TransformersGenerator.load",
    "rollout/scripted.py:play_episode",
    "rollout/scripted.py:play_scripted",
    "training/export.py:export_merged",
    "training/runtime.py:lora_config",
    "training/runtime.py:save_final_state",
    "training/runtime.py:use_plain_progress",
    "training/runtime.py:write_run_files",
    "training/sft.py:sft_args",
    "training/sft_data.py:prepare_sft_data",
}


def _missing_annotations(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
    if args and args[0].arg in ("self", "cls"):
        args = args[1:]
    missing = [a.arg for a in args if a.annotation is None]
    missing += [f"*{a.arg}" for a in (node.args.vararg, node.args.kwarg) if a is not None and a.annotation is None]
    if node.returns is None and node.name != "__init__":
        missing.append("return")
    return missing


def untyped_public_functions() -> dict[str, list[str]]:
    """`module:Class.function` -> what lacks an annotation, for public functions and methods of public classes."""
    found: dict[str, list[str]] = {}

    def visit(body: list[ast.stmt], module: str, prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                visit(node.body, module, f"{prefix}{node.name}.")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                missing = _missing_annotations(node)
                if missing:
                    found[f"{module}:{prefix}{node.name}"] = missing

    for path in sorted(PACKAGE.rglob("*.py")):
        if "configs" not in path.relative_to(PACKAGE).parts:
            visit(ast.parse(path.read_text(encoding="utf-8")).body, path.relative_to(PACKAGE).as_posix(), "")
    return found


def test_no_new_public_function_without_type_hints():
    found = untyped_public_functions()
    new = {name: missing for name, missing in found.items() if name not in KNOWN_UNTYPED}
    described = "; ".join(f"{name} lacks {', '.join(missing)}" for name, missing in new.items())
    assert not new, f"public functions without type hints; annotate them: {described}"
    fixed = sorted(KNOWN_UNTYPED - set(found))
    assert not fixed, f"annotated or gone now; remove from KNOWN_UNTYPED in {__file__}: {fixed}"


def _tool(name: str) -> str:
    beside_python = Path(sys.executable).with_name(name)  # the venv's, when its bin/ is not on PATH
    path = shutil.which(name) or (str(beside_python) if beside_python.exists() else None)
    if path is None:
        pytest.skip(f"{name} is not installed: pip install -e '.[dev]' (scripts/install.sh does)")
    return path


@pytest.mark.slow
def test_mypy_passes_on_src():
    result = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"mypy (config in pyproject.toml) found:\n{result.stdout[-4000:]}"


def test_ruff_check_passes():
    result = subprocess.run([_tool("ruff"), "check", "src", "tests"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, f"ruff check src tests (`--fix` repairs most):\n{result.stdout[-4000:]}"
