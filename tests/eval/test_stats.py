"""Statistics with hand-worked expected values, cross-checked against scipy where scipy has the test."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from agentbench_tuning.envs.benchmarks import dbbench_score
from agentbench_tuning.eval.stats import (
    Interval,
    bootstrap_ci,
    cohens_h,
    compare_runs,
    grid_by_item,
    mcnemar_exact,
    mean_std,
    paired_bootstrap,
    per_type,
    status_fractions,
    summarize_records,
    wilson_interval,
)


def rec(index, success, seed=0, type_="", status=None):
    return {"index": index, "seed": seed, "success": success, "type": type_,
            "status": status or ("completed" if success else "task limit reached")}


def test_wilson_by_hand_and_scipy():
    # 8/10: p=.8, z^2=3.8415, denominator 1.38415, centre .99207/1.38415=.71674,
    # half-width 1.96*sqrt(.016+.0096037)/1.38415=.22658 -> [.49016, .94332].
    ci = wilson_interval(8, 10)
    assert (ci.low, ci.high) == pytest.approx((0.49016, 0.94332), abs=1e-5)
    # 0/10: the interval starts at 0 and ends at 2 * centre = 2 * .19207/1.38415 = .27753.
    assert (wilson_interval(0, 10).low, wilson_interval(0, 10).high) == pytest.approx((0.0, 0.27753), abs=1e-5)
    for k, n in [(8, 10), (0, 10), (25, 50), (49, 50), (1, 3)]:
        ref = sps.binomtest(k, n).proportion_ci(method="wilson")
        ours = wilson_interval(k, n)
        assert (ours.low, ours.high) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_mcnemar_by_hand_and_scipy():
    # b=1, c=5: n=6, P(X<=1)=(1+6)/64, doubled = 14/64.
    assert mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(2, 2) == 1.0  # 2*(1+4+6)/16 > 1 is capped
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pairs: no evidence either way
    for b, c in [(1, 5), (3, 12), (10, 4), (0, 9), (7, 7)]:
        assert mcnemar_exact(b, c) == pytest.approx(sps.binomtest(b, b + c, 0.5).pvalue, rel=1e-12)


def test_effect_size_and_mean_std():
    # h = 2 asin sqrt(.8) - 2 asin sqrt(.5) = 2 atan 2 - pi/2 = 0.643501.
    assert cohens_h(0.5, 0.8) == pytest.approx(2 * math.atan(2) - math.pi / 2)
    assert cohens_h(0.8, 0.5) == pytest.approx(-0.643501, abs=1e-6)
    mean, std = mean_std([0.4, 0.5, 0.6])
    assert (mean, std) == pytest.approx((0.5, 0.1))  # sample std: sqrt((.01+0+.01)/2)
    assert mean_std([0.7]) == (0.7, 0.0)


def test_bootstrap():
    assert bootstrap_ci([[1.0, 1.0]] * 5) == Interval(1.0, 1.0)  # no spread, no width
    # One seed: the ordinary percentile bootstrap over items; scipy's agrees up to resampling noise.
    values = [1.0] * 30 + [0.0] * 20
    ours = bootstrap_ci([[v] for v in values], n_boot=4000)
    ref = sps.bootstrap((values,), lambda x: sum(x) / len(x), vectorized=False, n_resamples=4000,
                        method="percentile", rng=0).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=0.03) and ours.high == pytest.approx(ref.high, abs=0.03)
    # Normal approximation for p=.6, n=50: .6 +- 1.96*sqrt(.24/50) = [.464, .736].
    assert ours.low == pytest.approx(0.464, abs=0.03) and ours.high == pytest.approx(0.736, abs=0.03)
    assert paired_bootstrap([1.0] * 7) == Interval(1.0, 1.0)


def test_breakdowns_and_db_score():
    records = [rec(0, True, type_="counting"), rec(1, False, type_="counting"), rec(2, True, type_="other"),
               rec(3, False, type_="other", status="agent validation failed"), rec(4, True, type_="INSERT"),
               rec(5, False, type_="UPDATE"), rec(6, False, type_="UPDATE", status="agent context limit")]
    # SELECT = counting + other = 2/4 = .5; INSERT 1/1; UPDATE 0/2 -> overall_cat_accuracy = 1.5/3 = .5.
    assert dbbench_score(records) == {"SELECT": 0.5, "INSERT": 1.0, "UPDATE": 0.0, "overall_cat_accuracy": 0.5}
    # A category with no items is absent, not a 0 (it still counts 0 in v0.2's overall mean).
    assert dbbench_score(records[:4]) == {"SELECT": 0.5, "overall_cat_accuracy": 0.5 / 3}
    assert status_fractions(records) == {"agent context limit": 1 / 7, "agent validation failed": 1 / 7,
                                         "completed": 3 / 7, "task limit reached": 2 / 7}
    types = per_type(records)
    assert (types["UPDATE"].successes, types["UPDATE"].n, types["INSERT"].rate) == (0, 2, 1.0)


def test_summary_over_seeds():
    # Item 0 always solved, item 1 solved on seed 1 only: per-seed rates .5 and 1.0 -> mean .75, std .35355.
    records = [rec(0, True, 0), rec(1, False, 0), rec(0, True, 1), rec(1, True, 1)]
    summary = summarize_records(records)
    assert summary["score"]["per_seed"] == {0: 0.5, 1: 1.0}
    assert summary["score"]["mean"] == 0.75 and summary["score"]["std"] == pytest.approx(math.sqrt(0.125))
    assert summary["success"]["successes"] == 3 and summary["success"]["n"] == 4
    assert (summary["n_items"], summary["seeds"], summary["n_episodes"]) == (2, [0, 1], 4)
    with pytest.raises(ValueError, match="1 .index, seed. cells missing"):
        grid_by_item(records[:3])


def test_compare_known_difference():
    # 40 items: both solve items 1-19; only A solves item 0; only B solves items 20-30 (11 items).
    a = [rec(i, i < 20) for i in range(40)]
    b = [rec(i, 1 <= i <= 30) for i in range(40)]
    cmp = compare_runs(a, b)
    assert (cmp.b, cmp.c, cmp.rate_a, cmp.rate_b) == (1, 11, 0.5, 0.75)
    # Exact McNemar: 2 * P(X <= 1 | n=12) = 2 * 13/4096 = .0063477.
    assert cmp.p_value == pytest.approx(26 / 4096)
    assert cmp.ci.low > 0 and cmp.ci.high <= 0.5
    assert cmp.verdict.startswith("B is better than A: B 75.0% vs A 50.0% (+25.0 points, 95% CI +")
    assert "exact McNemar p = 0.00635; 11 items favour B, 1 favour A, of 40)" in cmp.verdict


def test_compare_no_difference():
    # Discordant 2 vs 3: p = 2 * (1+5+10)/32 = 1 -> no evidence.
    a = [rec(i, i in (0, 1) or i >= 10) for i in range(20)]
    b = [rec(i, i in (2, 3, 4) or i >= 10) for i in range(20)]
    cmp = compare_runs(a, b, names=("base", "sft"))
    assert (cmp.b, cmp.c, cmp.p_value) == (2, 3, 1.0)
    assert cmp.verdict.startswith("No reliable difference between base and sft: sft 65.0% vs base 60.0%")
    # With two seeds the unit is still the item: duplicating every record changes nothing.
    twice = compare_runs(a + [dict(r, seed=1) for r in a], b + [dict(r, seed=1) for r in b], names=("base", "sft"))
    assert (twice.b, twice.c, twice.p_value, twice.n_pairs, twice.n_items) == (2, 3, 1.0, 40, 20)
    with pytest.raises(ValueError, match="share no .index, seed. pairs"):
        compare_runs(a, [rec(100, True)])


def test_wilson_bounds_are_exact_at_the_edges():
    # Computed naively, the lower bound at 0/6 is ~1e-17, above the rate, and a plot's error bar goes negative.
    for n in range(1, 60):
        assert wilson_interval(0, n).low == 0.0 and wilson_interval(n, n).high == 1.0


def test_per_type_plot_with_zero_rates(tmp_path):
    from agentbench_tuning.eval.plots import per_type_plot
    from agentbench_tuning.eval.report import load_run, synthetic_record
    from agentbench_tuning.records import RecordWriter

    run_dir = tmp_path / "zeros"
    with RecordWriter(run_dir / "records.jsonl") as writer:
        for i in range(6):
            writer.append({**synthetic_record(i, 0, "UPDATE", False, "agent validation failed"),
                           "benchmark": "dbbench"})
    assert per_type_plot([load_run(run_dir)], tmp_path / "p.png").is_file()
