"""`abtune report` on record sets with a known difference."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agentbench_tuning.cli import app
from agentbench_tuning.eval.report import synthetic_record
from agentbench_tuning.records import RecordWriter

PNG = b"\x89PNG\r\n\x1a\n"


def write_run(path, solved, seeds=(0, 1), types=("pick", "heat")):
    with RecordWriter(path / "records.jsonl") as w:
        for seed in seeds:
            for i in range(40):
                ok = solved(i)
                w.append(synthetic_record(i, seed, types[i % 2], ok, "completed" if ok else "agent invalid action"))


def test_report_compare_known_difference(tmp_path):
    base, sft = tmp_path / "base", tmp_path / "sft"
    # base solves items 0-19; sft solves 1-30, on both seeds: 1 item favours base, 11 favour sft.
    write_run(base, lambda i: i < 20)
    write_run(sft, lambda i: 1 <= i <= 30)
    (sft / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"step": s, "loss": 2.0 / s} for s in range(1, 6)]}))
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(base), str(sft), "--compare", str(base), str(sft),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    # Items are the unit (the seeds are copies here): 2 * P(X <= 1 | n=12) = 26/4096 = .00635, not the
    # 3.6e-05 that counting each (item, seed) pair as independent would claim.
    assert "sft is better than base: sft 75.0% vs base 50.0% (+25.0 points" in text
    assert "exact McNemar p = 0.00635; 11 items favour sft, 1 favour base, of 40)" in text
    assert "| base | synthetic | success_rate | 50.0 ± 0.0 | 2 | 40 |" in text
    # Per type: base solves 10 of 20 "pick" items (even 0-18) on each seed -> 20/40.
    assert "| pick | 40 | 50.0 |" in text
    for name in ("per_type.png", "status.png", "learning_curves.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert "wrote" in result.output


def test_report_single_run_dbbench_score(tmp_path):
    run = tmp_path / "db"
    with RecordWriter(run / "records.jsonl") as w:
        for i, (t, ok) in enumerate([("counting", True), ("other", False), ("INSERT", True), ("UPDATE", False)]):
            w.append({**synthetic_record(i, 0, t, ok, "completed"), "benchmark": "dbbench"})
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    # SELECT 1/2, INSERT 1/1, UPDATE 0/1 -> overall_cat_accuracy = 1.5/3 = 50.0.
    assert "| db | synthetic | overall_cat_accuracy | 50.0 ± 0.0 | 1 | 4 |" in (run / "report.md").read_text()
    assert not (run / "learning_curves.png").exists()
