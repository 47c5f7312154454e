"""agentbench_tuning.notebooks: notebook arguments outside marimo, URLs, repo resolution, idempotent install
cell insertion, notebook discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentbench_tuning.notebooks import (
    INSTALL_TAG,
    add_install_cell,
    changed_overrides,
    cli_args,
    config_overrides,
    find_notebooks,
    https_git_url,
    install_requirement,
    main,
    parse_args,
    resolve_repo_url,
)


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


def test_cli_args_outside_marimo_reads_the_environment(monkeypatch):
    # pytest has no marimo runtime, like a Colab kernel running the exported ipynb.
    monkeypatch.setenv("ABTUNE_NOTEBOOK_ARGS", "--debug --family qwen2.5")
    assert cli_args() == {"debug": "", "family": "qwen2.5"}
    monkeypatch.delenv("ABTUNE_NOTEBOOK_ARGS")
    assert cli_args() == {}


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


def test_install_requirement():
    assert (
        install_requirement("https://h/o/r.git")
        == "agentbench-tuning[vllm,qlora,track] @ git+https://h/o/r.git"
    )
    assert (
        install_requirement("https://h/o/r.git", "v0.1", "qlora")
        == "agentbench-tuning[qlora] @ git+https://h/o/r.git@v0.1"
    )


def test_repo_url_from_env_then_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ABTUNE_REPO_URL", "git@github.com:org/r.git")
    assert resolve_repo_url(None, cwd=tmp_path) == "https://github.com/org/r.git"
    assert resolve_repo_url("https://x/y", cwd=tmp_path) == "https://x/y"  # --repo wins
    monkeypatch.delenv("ABTUNE_REPO_URL")
    with pytest.raises(ValueError, match="pass --repo URL or set ABTUNE_REPO_URL"):
        resolve_repo_url(None, cwd=tmp_path)  # tmp_path is no git checkout: no origin remote


def test_requirement_command_fails_cleanly_without_a_url(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ABTUNE_REPO_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["requirement"]) == 2
    assert capsys.readouterr().err.startswith("error: no repository URL for the install cell")


def test_add_install_cell_replaces_rather_than_stacks(tmp_path):
    import nbformat

    path = tmp_path / "nb.ipynb"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import marimo as mo")])
    nbformat.write(notebook, path)
    add_install_cell(path, "pkg @ git+https://a/b.git")
    add_install_cell(path, "pkg @ git+https://a/c.git")
    cells = nbformat.read(path, as_version=4).cells
    assert [c.source.splitlines()[-1] for c in cells] == [
        '%pip install -q "pkg @ git+https://a/c.git"',
        "import marimo as mo",
    ]
    assert cells[0].metadata["tags"] == [INSTALL_TAG]


def test_find_notebooks_only_takes_marimo_apps(tmp_path):
    (tmp_path / "training").mkdir()
    (tmp_path / "eval").mkdir()
    (tmp_path / "training" / "sft.py").write_text("import marimo\napp = marimo.App()\n")
    (tmp_path / "training" / "helpers.py").write_text("x = 1\n")
    (tmp_path / "eval" / "report.py").write_text("import marimo\napp = marimo.App(width='full')\n")
    assert find_notebooks(tmp_path) == [tmp_path / "training" / "sft.py", tmp_path / "eval" / "report.py"]
