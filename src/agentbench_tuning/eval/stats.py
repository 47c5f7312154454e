"""Statistics over evaluation records: pure functions, no I/O.

With 50 ALFWorld games one game is 2 points, so every number comes with its uncertainty: Wilson intervals
for a proportion, a two-level bootstrap over items and seeds, per-type breakdowns, status fractions, the
AgentBench DB Bench score rule, and a paired comparison of two runs on the same items (exact McNemar, paired
bootstrap of the difference, Cohen's h) ending in a plain-language verdict.

A record is a dict with at least `index`, `seed`, `success` (bool), `status`, and optionally `type`.

    summary = summarize_records(records)
    comparison = compare_runs(records_a, records_b)
    print(comparison.verdict)
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

Z95 = 1.959963984540054  # two-sided 95% normal quantile
SELECT_EXCLUDED = ("INSERT", "UPDATE")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for a binomial proportion (no continuity correction)."""
    if n == 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; computed, it can land a rounding error inside
    # [0, 1] and put the point estimate outside its own interval.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 1]."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def bootstrap_ci(grid: Sequence[Sequence[float]], n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap CI of the mean of an items x seeds grid, resampling items and seeds.

    Resampling both levels accounts for the spread between items (which games are in the split) and between
    seeds (sampling noise); with one seed it is the ordinary bootstrap over items.
    """
    if not grid or not grid[0]:
        raise ValueError("bootstrap_ci needs at least one item and one seed")
    rng = random.Random(seed)
    n_items, n_seeds = len(grid), len(grid[0])
    means = []
    for _ in range(n_boot):
        items = [rng.randrange(n_items) for _ in range(n_items)]
        seeds = [rng.randrange(n_seeds) for _ in range(n_seeds)] if n_seeds > 1 else [0]
        means.append(sum(grid[i][s] for i in items for s in seeds) / (len(items) * len(seeds)))
    means.sort()
    alpha = (1 - level) / 2
    return Interval(_percentile(means, alpha), _percentile(means, 1 - alpha))


def grid_by_item(records: Iterable[dict], field: str = "success") -> tuple[list[int], list[int], list[list[float]]]:
    """(items, seeds, grid[item][seed]) of a complete items x seeds set of records; missing cells are an error."""
    cells = {(r["index"], r.get("seed", 0)): float(r[field]) for r in records}
    items = sorted({i for i, _ in cells})
    seeds = sorted({s for _, s in cells})
    missing = [(i, s) for i in items for s in seeds if (i, s) not in cells]
    if missing:
        raise ValueError(f"records are incomplete: {len(missing)} (index, seed) cells missing, e.g. {missing[:3]}")
    return items, seeds, [[cells[(i, s)] for s in seeds] for i in items]


# ------------------------------------------------------------------------------------ one run


@dataclass(frozen=True)
class Proportion:
    successes: int
    n: int
    rate: float
    ci: Interval


def proportion(successes: int, n: int) -> Proportion:
    return Proportion(successes, n, successes / n if n else float("nan"), wilson_interval(successes, n))


def status_fractions(records: Sequence[dict]) -> dict[str, float]:
    counts = Counter(r["status"] for r in records)
    return {status: counts[status] / len(records) for status in sorted(counts)} if records else {}


def per_type(records: Sequence[dict]) -> dict[str, Proportion]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r.get("type") or "all"].append(r)
    return {t: proportion(sum(bool(r["success"]) for r in rs), len(rs)) for t, rs in sorted(groups.items())}


def success_rate(records: Sequence[dict]) -> dict[str, float]:
    """The default metric: successes / total (the benchmark table has each benchmark's own)."""
    return {"success_rate": sum(bool(r["success"]) for r in records) / len(records) if records else float("nan")}


@dataclass(frozen=True)
class SeedSpread:
    per_seed: dict[int, float]
    mean: float
    std: float


def seed_spread(records: Sequence[dict], metric=success_rate, key: str = "success_rate") -> SeedSpread:
    """`metric(records of one seed)[key]` for each seed, with mean and std over seeds."""
    by_seed: dict[int, list[dict]] = defaultdict(list)
    for r in records:
        by_seed[r.get("seed", 0)].append(r)
    per_seed = {s: metric(rs)[key] for s, rs in sorted(by_seed.items())}
    mean, std = mean_std(list(per_seed.values()))
    return SeedSpread(per_seed, mean, std)


def summarize_records(records: Sequence[dict], metric=success_rate, key: str = "success_rate", n_boot: int = 2000) -> dict:
    """Everything `summary.json` holds about one run, as plain JSON-able values."""
    if not records:
        raise ValueError("no records to summarize")
    items, seeds, grid = grid_by_item(records)
    successes = sum(bool(r["success"]) for r in records)
    spread = seed_spread(records, metric, key)
    return {
        "n_items": len(items),
        "seeds": seeds,
        "n_episodes": len(records),
        "metric": key,
        "score": {"mean": spread.mean, "std": spread.std, "per_seed": spread.per_seed},
        "success": asdict(proportion(successes, len(records))),
        "bootstrap_ci": asdict(bootstrap_ci(grid, n_boot=n_boot)),
        "per_type": {t: asdict(p) for t, p in per_type(records).items()},
        "status": status_fractions(records),
        "metrics_per_seed": {s: metric([r for r in records if r.get("seed", 0) == s]) for s in seeds},
    }


# ------------------------------------------------------------------------------- two runs


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b (A right, B wrong) and c (A wrong, B right):
    a binomial test of min(b, c) successes in b + c trials at p = 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def cohens_h(p_a: float, p_b: float) -> float:
    """Effect size for two proportions: 2 asin sqrt(p_b) - 2 asin sqrt(p_a) (0.2 small, 0.5 medium, 0.8 large)."""
    return 2 * math.asin(math.sqrt(p_b)) - 2 * math.asin(math.sqrt(p_a))


@dataclass(frozen=True)
class Comparison:
    n_pairs: int  # matched (index, seed) pairs
    n_items: int
    rate_a: float
    rate_b: float
    difference: float  # rate_b - rate_a
    ci: Interval  # paired bootstrap over items of the difference
    b: int  # items where A did better (with one seed: A succeeded, B failed)
    c: int  # items where B did better
    p_value: float  # exact McNemar (sign test over items when there are several seeds)
    cohens_h: float
    verdict: str


def paired_bootstrap(diffs: Sequence[float], n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap CI of the mean of per-item differences (items resampled, pairs kept together)."""
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    alpha = (1 - level) / 2
    return Interval(_percentile(means, alpha), _percentile(means, 1 - alpha))


def compare_runs(a: Sequence[dict], b: Sequence[dict], names: tuple[str, str] = ("A", "B"), n_boot: int = 2000) -> Comparison:
    """Paired comparison on the (index, seed) pairs both runs have.

    The unit is the item: seeds of one item are not independent (at temperature 0 they are copies), so each
    item's success is averaged over its seeds first. b / c count the items where A / B did better; the exact
    test on them is McNemar's with one seed and the sign test on per-item differences with several. The
    bootstrap resamples items.
    """
    cells_a = {(r["index"], r.get("seed", 0)): bool(r["success"]) for r in a}
    cells_b = {(r["index"], r.get("seed", 0)): bool(r["success"]) for r in b}
    keys = sorted(cells_a.keys() & cells_b.keys())
    if not keys:
        raise ValueError("the two runs share no (index, seed) pairs; compare runs on the same items and seeds")
    rate_a = sum(cells_a[k] for k in keys) / len(keys)
    rate_b = sum(cells_b[k] for k in keys) / len(keys)
    per_item: dict[int, list[float]] = defaultdict(list)
    for k in keys:
        per_item[k[0]].append(float(cells_b[k]) - float(cells_a[k]))
    diffs = [sum(v) / len(v) for _, v in sorted(per_item.items())]
    a_better, b_better = sum(d < 0 for d in diffs), sum(d > 0 for d in diffs)
    ci = paired_bootstrap(diffs, n_boot=n_boot)
    p = mcnemar_exact(a_better, b_better)
    h = cohens_h(rate_a, rate_b)
    verdict = plain_verdict(names, rate_a, rate_b, ci, p, a_better, b_better, len(per_item))
    return Comparison(len(keys), len(per_item), rate_a, rate_b, rate_b - rate_a, ci, a_better, b_better, p, h, verdict)


def plain_verdict(names, rate_a, rate_b, ci: Interval, p: float, b: int, c: int, n_items: int) -> str:
    a_name, b_name = names
    diff = 100 * (rate_b - rate_a)
    numbers = (
        f"{b_name} {100 * rate_b:.1f}% vs {a_name} {100 * rate_a:.1f}% ({diff:+.1f} points, 95% CI "
        f"{100 * ci.low:+.1f} to {100 * ci.high:+.1f}; exact McNemar p = {p:.3g}; {c} items favour {b_name}, "
        f"{b} favour {a_name}, of {n_items})"
    )
    if p < 0.05 and (ci.low > 0 or ci.high < 0):
        better, worse = (b_name, a_name) if diff > 0 else (a_name, b_name)
        return f"{better} is better than {worse}: {numbers}."
    if p < 0.05:
        return f"Probably a real difference, but the size is uncertain: {numbers}."
    return f"No reliable difference between {a_name} and {b_name}: {numbers}. More items or seeds are needed to tell."
