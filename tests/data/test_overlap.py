"""The data-rule guard: a planted copy of a held-out sample is flagged, our generated data passes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentbench_tuning.data.overlap import (
    BenchmarkItem,
    OverlapSettings,
    benchmark_items,
    check_overlap,
    ngrams,
    training_texts,
    words,
)


def test_ngrams_by_hand():
    assert ngrams(words("The cat, the Hat!"), 2) == {("the", "cat"), ("cat", "the"), ("the", "hat")}
    assert ngrams(["a", "b"], 5) == {("a", "b")}  # shorter than n: one n-gram of all its words
    assert ngrams([], 3) == set()


def test_exact_copy_scores_one_and_unrelated_text_zero():
    item = BenchmarkItem("x:1", "counting", "How many stations opened after 1990 in the Northern region of Garsel")
    report = check_overlap(["Hello there, nothing to see.", item.text], [item])
    [result] = report.items
    assert (result.ngram_overlap, result.similarity, result.flagged) == (1.0, 1.0, True)
    clean = check_overlap(["Hello there, nothing to see."], [item])
    assert (clean.items[0].ngram_overlap, clean.items[0].similarity, clean.passed) == (0.0, 0.0, True)


def test_jaccard_by_hand():
    # shingle 2: item {a b, b c, c d}; message {a b, b c, c x} -> 2 shared of 4 distinct = 0.5
    settings = OverlapSettings(ngram=2, shingle=2, max_ngram_overlap=1.0, max_similarity=1.0)
    [result] = check_overlap(["a b c x"], [BenchmarkItem("k", "t", "a b c d")], settings).items
    assert result.similarity == 0.5
    assert result.ngram_overlap == pytest.approx(2 / 3, abs=1e-4)


def test_template_ngrams_are_ignored():
    template = "Answer the question about the table below and be precise please."
    items = [BenchmarkItem(str(i), "t", f"{template} Table{i} lists things number {i}") for i in range(12)]
    report = check_overlap([template], items)
    assert report.template_ngrams > 0
    assert all(i.ngram_overlap == 0.0 for i in report.items)


@pytest.fixture(scope="module")
def dbbench_files(tmp_path_factory):
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate, write_generated
    from agentbench_tuning.envs.dbbench.sqlite_backend import SQLiteBackend

    out = tmp_path_factory.mktemp("db")
    backend = SQLiteBackend()
    try:
        samples = generate(DBGenConfig(n=80, seed=0, heldout_fraction=0.25), backend)
    finally:
        backend.close()
    return write_generated(samples, out, {"n": len(samples)})


def test_generated_data_passes_and_a_planted_copy_is_flagged(dbbench_files, tmp_path):
    from agentbench_tuning.training.sft_data import load_sources

    heldout = dbbench_files["heldout"]
    train = load_sources([str(dbbench_files["sft_train"]), "gen:dbbench:40", "gen:alfworld:6"])
    items = benchmark_items(heldout)
    assert check_overlap(training_texts(train), items).passed

    sample = json.loads(heldout.read_text().splitlines()[0])
    planted = train + [{"messages": [{"role": "user", "content": "task"},
                                     {"role": "user", "content": sample["description"] + "\n" + sample["add_description"]},
                                     {"role": "assistant", "content": "Action: Answer\nFinal Answer: [1]"}]}]
    report = check_overlap(training_texts(planted), items)
    assert [f.key for f in report.flagged] == [f"{heldout}:1"]


def test_cli_exit_codes(dbbench_files, tmp_path):
    from agentbench_tuning.cli.app import app

    sample = json.loads(dbbench_files["heldout"].read_text().splitlines()[0])
    copy = tmp_path / "copy.jsonl"
    text = sample["description"] + "\n" + sample["add_description"]
    copy.write_text(json.dumps({"messages": [{"role": "user", "content": text},
                                             {"role": "assistant", "content": "ok"}]}) + "\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["data", "check-overlap", "--train", str(dbbench_files["sft_train"]),
                             "--against", str(dbbench_files["heldout"])])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["data", "check-overlap", "--train", str(copy), "--against", str(dbbench_files["heldout"]),
                              "--out", str(tmp_path / "report.json")])
    assert bad.exit_code == 1, bad.output
    assert json.loads((tmp_path / "report.json").read_text())["summary"]["flagged"] == 1


def test_alfworld_game_folder(tmp_path):
    from agentbench_tuning.envs.alfworld import build_test_game, engine_missing

    if engine_missing():
        pytest.skip(engine_missing())
    build_test_game(tmp_path / "games")
    [item] = benchmark_items(tmp_path / "games")
    assert "Your task is to: put a apple in countertop." in item.text
    from agentbench_tuning.training.sft_data import load_sources

    assert check_overlap(training_texts(load_sources(["gen:alfworld:12"])), [item]).passed
    copied = [{"messages": [{"role": "user", "content": "Here is your task. " + item.text}]}]
    assert not check_overlap(training_texts(copied), [item]).passed


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"question": 1}\n')
    with pytest.raises(ValueError, match=r"x.jsonl:1: no field 'description'"):
        benchmark_items(bad)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        benchmark_items(tmp_path / "missing.jsonl")


def test_empty_benchmark_file_is_an_error(tmp_path):
    empty = tmp_path / "heldout.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match="heldout.jsonl: no samples"):
        benchmark_items(empty)


def test_alfworld_split_file(tmp_path):
    from agentbench_tuning.envs.alfworld import build_test_game, engine_missing

    if engine_missing():
        pytest.skip(engine_missing())
    game = build_test_game(tmp_path / "data")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"pick_and_place": [str(game.relative_to(tmp_path / "data"))]}))
    [item] = benchmark_items(split, data_root=tmp_path / "data")
    assert "put a apple in countertop" in item.text and item.kind == "pick_and_place_simple"
    with pytest.raises(FileNotFoundError, match="not found"):
        benchmark_items(split)  # relative to the split's own folder, the game is not there
