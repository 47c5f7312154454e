"""agentbench_tuning.notebooks (arguments outside marimo, the parameters cell, stop, Drive) and
agentbench_tuning.notebook_export (PEP 723 blocks, lock pins, URLs, repo resolution, idempotent Colab cells,
notebook discovery)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agentbench_tuning import notebooks
from agentbench_tuning.notebook_export import (
    COLAB_TAG,
    add_colab_cells,
    find_notebooks,
    https_git_url,
    lock_versions,
    main,
    notebook_requirements,
    parameters_cell_source,
    resolve_repo_url,
    script_examples,
    script_metadata,
    with_git_source,
)
from agentbench_tuning.notebooks import (
    changed_overrides,
    cli_args,
    config_overrides,
    output_on_drive,
    parse_args,
    stop,
    use_notebook_args,
)

ROOT = Path(__file__).resolve().parents[1]


def test_parse_args_like_marimo_script_mode():
    # marimo turns `python nb.py --debug --max-length 100 --path x.jsonl` into these values (checked by hand).
    assert parse_args("--debug --max-length 100 --path x.jsonl") == {
        "debug": "",
        "max-length": 100,
        "path": "x.jsonl",
    }
    assert parse_args("--lr 0.5 --name 'a b'") == {"lr": 0.5, "name": "a b"}
    assert parse_args("") == {}
    assert parse_args("--train.max_steps=2 --train.output_dir runs/x") == {
        "train.max_steps": 2,
        "train.output_dir": "runs/x",
    }
    with pytest.raises(ValueError, match="expected --key, got 'stray'"):
        parse_args("stray --debug")


def test_config_overrides_come_only_from_arguments_given():
    assert config_overrides({"config": "configs/debug.yaml"}) == []
    assert config_overrides({"debug": "", "train.max_steps": 2, "max_steps": 3, "lora.enabled": False},
                            shorthands={"max_steps": "train.max_steps"}) == [
        "train.max_steps=2", "train.max_steps=3", "lora.enabled=false"
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"--steps: not a config key; pass --section.key value .* --config, --debug"):
        config_overrides({"steps": 2})
    with pytest.raises(ValueError, match=r"--train.seed given 2 times: \[1, 2\]; give it once"):
        config_overrides({"train.seed": [1, 2]})


def test_widgets_left_at_the_config_values_override_nothing():
    from agentbench_tuning.config import load_sft_config

    debug_yaml = Path(__file__).resolve().parents[1] / "configs" / "debug.yaml"
    cfg = load_sft_config(debug_yaml, config_overrides({"config": str(debug_yaml)}))
    assert cfg.train.max_steps == 24  # the YAML's, not a widget default
    assert changed_overrides(cfg, {"train.max_steps": 24, "train.output_dir": "runs/debug"}) == []
    assert changed_overrides(cfg, {"train.max_steps": 5, "train.output_dir": "runs/debug"}) == ["train.max_steps=5"]


def test_cli_args_outside_marimo_reads_the_parameters_cell_then_the_environment(monkeypatch):
    # pytest has no marimo runtime, like a Colab kernel running the exported ipynb.
    monkeypatch.setattr(notebooks, "_notebook_args", None)
    monkeypatch.setenv("ABTUNE_NOTEBOOK_ARGS", "--debug --family qwen2.5")
    assert cli_args() == {"debug": "", "family": "qwen2.5"}
    use_notebook_args("--runs a,b")  # the parameters cell wins over the environment
    assert cli_args() == {"runs": "a,b"}
    use_notebook_args("")  # emptied again: back to the environment
    assert cli_args() == {"debug": "", "family": "qwen2.5"}
    monkeypatch.delenv("ABTUNE_NOTEBOOK_ARGS")
    assert cli_args() == {}
    with pytest.raises(ValueError, match="expected --key, got 'runs'"):
        use_notebook_args("runs a")  # fails in the cell the user edited, not three cells later


def test_stop_outside_marimo_says_what_to_do_and_lets_the_cell_go_on(capsys):
    assert stop(True, "Enter one or more run directories") is True
    assert capsys.readouterr().out == "Enter one or more run directories\n"
    assert stop(False, "never shown") is False
    assert capsys.readouterr().out == ""


def test_output_on_drive_only_in_colab(tmp_path, monkeypatch):
    assert output_on_drive("runs/sft", {}) == "runs/sft"  # not Colab: unchanged
    monkeypatch.setattr(notebooks, "in_colab", lambda: True)
    monkeypatch.setattr(notebooks, "DRIVE_MOUNT", tmp_path)
    (tmp_path / "MyDrive").mkdir()  # already mounted: no prompt
    assert output_on_drive("runs/sft", {}) == str(tmp_path / "MyDrive" / "abtune" / "runs" / "sft")
    assert output_on_drive("runs/sft", {"no-drive": ""}) == "runs/sft"
    assert output_on_drive("/content/elsewhere", {}) == "/content/elsewhere"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("git@github.com:org/agentbench-tuning.git", "https://github.com/org/agentbench-tuning.git"),
        ("git@github.com:org/agentbench-tuning", "https://github.com/org/agentbench-tuning.git"),
        ("ssh://git@gitlab.example.org/team/tool.git", "https://gitlab.example.org/team/tool.git"),
        ("https://github.com/org/agentbench-tuning", "https://github.com/org/agentbench-tuning"),
    ],
)
def test_https_git_url(url, expected):
    assert https_git_url(url) == expected


def test_https_git_url_rejects_other_schemes():
    with pytest.raises(ValueError, match="neither https:// nor git@host:org/repo"):
        https_git_url("file:///src/repo")


def test_script_metadata_reads_the_pep723_block(tmp_path):
    notebook = tmp_path / "nb.py"
    notebook.write_text('# /// script\n# dependencies = ["agentbench-tuning[qlora]", "marimo"]\n#\n'
                        '# [tool.uv.sources]\n# agentbench-tuning = { path = ".." }\n# ///\nimport marimo\n')
    assert script_metadata(notebook) == {"dependencies": ["agentbench-tuning[qlora]", "marimo"],
                                         "tool": {"uv": {"sources": {"agentbench-tuning": {"path": ".."}}}}}
    notebook.write_text("import marimo\n")
    with pytest.raises(ValueError, match=r"nb.py: expected one `# /// script` block \(PEP 723\), found 0"):
        script_metadata(notebook)


def test_requirements_are_the_notebooks_block_pinned_to_the_lock():
    locked = lock_versions(ROOT / "uv.lock")
    requirements = notebook_requirements(ROOT / "training" / "sft.py", "https://h/o/r.git", "v1", ROOT)
    assert requirements[0] == "agentbench-tuning[qlora,track] @ git+https://h/o/r.git@v1"
    # The toolkit's own dependencies and those of the extras the block asks for, at the lock's versions...
    for name in ("torch", "transformers", "trl", "peft", "bitsandbytes", "wandb", "marimo"):
        assert f"{name}=={locked[name]}" in requirements
    # ...and nothing the notebook does not need: vllm is the vllm extra's, which sft does not ask for.
    assert not [r for r in requirements if r.startswith("vllm")]
    assert "ipython>=8" in requirements  # Colab's kernel keeps its own IPython
    report = notebook_requirements(ROOT / "eval" / "report.py", "https://h/o/r.git", None, ROOT)
    assert report[0] == "agentbench-tuning @ git+https://h/o/r.git"
    assert not [r for r in report if r.startswith(("bitsandbytes", "wandb"))]


def test_lock_versions_skips_packages_locked_twice(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text('version = 1\n[[package]]\nname = "Torch"\nversion = "2.1"\n'
                    '[[package]]\nname = "numpy"\nversion = "1.0"\n[[package]]\nname = "numpy"\nversion = "2.0"\n')
    assert lock_versions(lock) == {"torch": "2.1"}
    assert tomllib.loads(lock.read_text())["version"] == 1


def test_parameters_cell_lists_the_docstrings_script_examples():
    doc = "Report.\n\n    python eval/report.py --runs a,b       # as a script\n    python eval/report.py --debug\n"
    assert script_examples(doc) == ["--runs a,b", "--debug"]
    source = parameters_cell_source(doc)
    assert '#   NOTEBOOK_ARGS = "--runs a,b"\n' in source
    assert source.endswith('NOTEBOOK_ARGS = ""')


def test_repo_url_from_env_then_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ABTUNE_REPO_URL", "git@github.com:org/r.git")
    assert resolve_repo_url(None, cwd=tmp_path) == "https://github.com/org/r.git"
    assert resolve_repo_url("https://x/y", cwd=tmp_path) == "https://x/y"  # --repo wins
    monkeypatch.delenv("ABTUNE_REPO_URL")
    with pytest.raises(ValueError, match="pass --repo URL or set ABTUNE_REPO_URL"):
        resolve_repo_url(None, cwd=tmp_path)  # tmp_path is no git checkout: no origin remote


def test_requirements_command_fails_cleanly_without_a_url(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ABTUNE_REPO_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["requirements", str(ROOT / "training" / "sft.py")]) == 2
    assert capsys.readouterr().err.startswith("error: no repository URL for the install cell")


def test_add_colab_cells_replaces_rather_than_stacks(tmp_path):
    import nbformat

    path = tmp_path / "nb.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import marimo as mo")])
    nbformat.write(notebook, path)
    source = ROOT / "eval" / "report.py"
    add_colab_cells(path, source, ["pkg @ git+https://a/b.git"])
    add_colab_cells(path, source, ["pkg @ git+https://a/c.git"])
    cells = nbformat.read(path, as_version=4).cells
    assert len(cells) == 5
    assert '"pkg @ git+https://a/c.git"' in cells[0].source and "a/b.git" not in cells[0].source
    assert [COLAB_TAG in c.metadata.get("tags", []) for c in cells] == [True, True, True, True, False]
    assert cells[-1].source == "import marimo as mo"


def test_find_notebooks_only_takes_marimo_apps(tmp_path):
    (tmp_path / "training").mkdir()
    (tmp_path / "eval").mkdir()
    (tmp_path / "training" / "sft.py").write_text("import marimo\napp = marimo.App()\n")
    (tmp_path / "training" / "helpers.py").write_text("x = 1\n")
    (tmp_path / "eval" / "report.py").write_text("import marimo\napp = marimo.App(width='full')\n")
    assert find_notebooks(tmp_path) == [tmp_path / "training" / "sft.py", tmp_path / "eval" / "report.py"]


def test_with_git_source_replaces_only_the_checkout_source(tmp_path):
    notebook = ROOT / "training" / "sft.py"
    exported = with_git_source(notebook, "https://h/o/r.git", "v1")
    standalone = tmp_path / "sft.py"
    standalone.write_text(exported)
    meta = script_metadata(standalone)
    assert meta["tool"]["uv"]["sources"]["agentbench-tuning"] == {"git": "https://h/o/r.git", "rev": "v1"}
    assert meta["dependencies"] == script_metadata(notebook)["dependencies"]
    original = notebook.read_text().splitlines()
    changed = [n for n, (a, b) in enumerate(zip(original, exported.splitlines(), strict=True)) if a != b]
    assert len(changed) == 2  # the sources line and its comment; the notebook's code is untouched
    (tmp_path / "bare.py").write_text("# /// script\n# dependencies = []\n# ///\nimport marimo\n")
    with pytest.raises(ValueError, match=r'bare.py: its `# /// script` block needs `# agentbench-tuning = \{ path'):
        with_git_source(tmp_path / "bare.py", "https://h/o/r.git")
