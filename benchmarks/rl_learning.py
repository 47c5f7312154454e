"""Do GRPO and DPO raise held-out success beyond an SFT warm start? DB Bench, SmolLM2-135M, CPU.

    python benchmarks/learning.py --preset both-cpu --seeds 0 --out runs/learning-both     # the warm start
    python benchmarks/rl_learning.py --warm-start runs/learning-both/train/smollm2-seed0/final \
        --prompt-file runs/learning-both/data/dbbench_compact.txt --seeds 0,1 --out runs/rl-learning
-> <out>/report.{md,json}, <out>/rl_learning.png; `--publish` copies them to benchmarks/results/rl_learning.*

    python benchmarks/rl_learning.py --benchmark alfworld-sim --methods dpo-step --heldout 120 \
        --warm-start runs/learning-both/train/smollm2-seed0/final \
        --prompt-file runs/learning-both/data/alfworld_compact.json --seeds 0,1 --out runs/rl-alfworld
-> the same for DPO on ALFWorld's simulator (learning.py's easy worlds, `SimWorld.easy()`): each training seed
explores its own games of one generation seed, the held-out games are learning.py's; results/rl_learning_alfworld.*

Steps: prepare (DB Bench tasks with the learning experiment's table split: held-out tables are those the
generator's md5 split puts below 0.5, the share `learning.py` used; its 40 held-out tasks are the first 40
here; RL training tasks come from another generator seed on training tables only, and the two table sets are
checked disjoint) -> train, each training seed of each method as its own process, side by side:
  * GRPO: `abtune grpo --config configs/grpo_learning_smollm2.yaml` (multi-turn episodes, vLLM rollouts with
    the step's LoRA adapter hot-swapped, graded by the DB Bench grader on SQLite);
  * GRPO on screened tasks (`grpo-screen`): the warm start first plays every training task 4 times as GRPO
    samples (`abtune eval dbbench --temperature 0.8 --seeds 0,1,2,3`), then
    `configs/grpo_learning_screened_smollm2.yaml` trains only on the tasks 1-3 of those 4 episodes solved;
  * the same with `grpo.truncated=keep` (`grpo-keep`, same screen): an episode cut by the training context
    limit (a loop of queries) is trained as a failure instead of dropped from the loss;
  * DPO: `abtune dpo-round --config configs/dpo_learning_smollm2.yaml` (explore training tasks at temperature
    0.8, pair each failure with the expert's trajectory of the same task, DPO a fresh adapter whose reference is
    the warm start);
-> evaluate the warm start and every trained adapter greedily on the held-out tasks (vLLM, SQLite) -> report:
pooled Wilson 95% CIs, per seed, per type, and a paired comparison of each method against the warm start on
the same items (`eval.stats.compare_runs`: items are the unit, each item's gain averaged over training seeds;
paired bootstrap CI, exact sign test). Every number is measured by this script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "python benchmarks/rl_learning.py " + " ".join(sys.argv[1:])  # before imports that rewrite sys.argv
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from learning import EVAL_SEED as ALF_EVAL_SEED  # noqa: E402
from learning import run_parallel  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
HELDOUT_FRACTION = 0.5  # the table split of benchmarks/learning.py (db_heldout / (db_train + db_heldout))
EVAL_SEED, RL_TASK_SEED = 0, 7  # generator seeds: held-out tasks as in learning.py; RL tasks from another seed
REPLICATION_SEED = 11  # `--replication`: a second held-out set
# --benchmark alfworld-sim: games in learning.py's easy worlds; held-out games are learning.py's (game seed 0),
# DPO explores games of another seed (learning.py's SFT games are seed 1, its engine games seed 2)
ALF_EXPLORE_SEED = 7
DPO_METHODS = ("dpo", "dpo-step", "dpo-sft")
# GRPO methods that train on the screened tasks (one shared screen), with their overrides of the screened preset
SCREENED = {"grpo-screen": [], "grpo-keep": ["grpo.truncated=keep"]}


def prepare(out: Path, n_heldout: int, n_train: int) -> dict:
    """Held-out and RL training task files (v0.2 JSONL) on disjoint tables."""
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate
    from agentbench_tuning.envs.dbbench.sqlite_backend import SQLiteBackend

    data = out / "data"
    files = {"heldout": data / "heldout_tasks.jsonl", "train": data / "train_tasks.jsonl"}
    if all(p.is_file() for p in files.values()):
        return {k: str(p) for k, p in files.items()}
    backend = SQLiteBackend()
    try:
        def split(seed: int, heldout: bool, n: int) -> list:
            cfg = DBGenConfig(n=n * 3, seed=seed, heldout_fraction=HELDOUT_FRACTION, explore_p=0.0, recover_p=0.0)
            chosen = [g for g in generate(cfg, backend) if g.heldout == heldout][:n]
            if len(chosen) < n:
                raise RuntimeError(f"only {len(chosen)} {'held-out' if heldout else 'training'} tasks generated")
            return chosen
        heldout, train = split(EVAL_SEED, True, n_heldout), split(RL_TASK_SEED, False, n_train)
    finally:
        backend.close()
    shared = {g.task.table_name for g in heldout} & {g.task.table_name for g in train}
    if shared:
        raise RuntimeError(f"held-out and RL training tasks share tables {sorted(shared)[:5]}")
    data.mkdir(parents=True, exist_ok=True)
    for key, samples in (("heldout", heldout), ("train", train)):
        files[key].write_text("".join(json.dumps(g.task.to_sample()) + "\n" for g in samples))
    return {k: str(p) for k, p in files.items()}


def replication_name(seed: int) -> str:
    """`--replication [SEED]`: the task file's stem and the evaluation folder of a held-out set (REPLICATION_SEED
    keeps the names of the first one)."""
    return "replication" if seed == REPLICATION_SEED else f"replication-seed{seed}"


def replication_tasks(out: Path, n: int, seed: int = REPLICATION_SEED) -> Path:
    """Another independent held-out set (generator seed `seed`, held-out tables, none of the tables of the first
    held-out set, of earlier replication sets or of the RL training tasks): a confirmatory test for a method whose
    first result was promising but not conclusive, reported on its own, never pooled with the first set."""
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate
    from agentbench_tuning.envs.dbbench.sqlite_backend import SQLiteBackend

    path = out / "data" / f"heldout_{replication_name(seed)}.jsonl"
    if path.is_file():
        return path
    used = {json.loads(line)["table"]["table_name"]
            for file in [out / "data" / "train_tasks.jsonl", *sorted((out / "data").glob("heldout_*.jsonl"))]
            for line in file.read_text().splitlines()}
    backend = SQLiteBackend()
    try:
        cfg = DBGenConfig(n=n * 4, seed=seed, heldout_fraction=HELDOUT_FRACTION, explore_p=0.0, recover_p=0.0)
        chosen = [g for g in generate(cfg, backend) if g.heldout and g.task.table_name not in used][:n]
    finally:
        backend.close()
    if len(chosen) < n:
        raise RuntimeError(f"only {len(chosen)} replication tasks on unused held-out tables")
    path.write_text("".join(json.dumps(g.task.to_sample()) + "\n" for g in chosen))
    return path


def train_commands(out: Path, files: dict, args) -> dict[str, list[str]]:
    abtune = [sys.executable, "-m", "agentbench_tuning.cli"]
    common = [f"model.name_or_path={args.warm_start}"]
    commands = {}
    if any(m in SCREENED for m in args.methods):  # the warm start's pass rate per training task, as GRPO samples it
        commands["screen"] = abtune + [
            "eval", "dbbench", "--data", files["train"], "--agent", "model", "--model", args.warm_start,
            "--engine", "vllm", "--prompt-file", args.prompt_file, "--temperature", "0.8",
            "--seeds", ",".join(map(str, range(args.screen_samples))), "--max-new-tokens", str(args.max_new_tokens),
            "--max-context", "1024", "--out", str(out / "screen")]
    for seed in args.seeds:
        for method in [m for m in SCREENED if m in args.methods]:
            commands[f"train-{method}-seed{seed}"] = abtune + [
                "grpo", "--config", str(ROOT / "configs" / "grpo_learning_screened_smollm2.yaml"), *common,
                f"train.output_dir={run_dir(out, method, seed)}", f"train.seed={seed}",
                f"tasks.data={files['train']}", f"tasks.prompt_file={args.prompt_file}", f"tasks.env_seed={seed}",
                f"tasks.count={args.train_tasks}", f"tasks.screen={out / 'screen'}", f"tasks.pass_rate=[{args.pass_rate}]",
                *SCREENED[method]]
        if "grpo" in args.methods:
            commands[f"train-grpo-seed{seed}"] = abtune + [
                "grpo", "--config", str(ROOT / "configs" / "grpo_learning_smollm2.yaml"), *common,
                f"train.output_dir={out / f'grpo-seed{seed}'}", f"train.seed={seed}", f"train.max_steps={args.grpo_steps}",
                f"train.learning_rate={args.grpo_lr}", f"tasks.data={files['train']}", f"tasks.count={args.grpo_tasks}",
                f"tasks.prompt_file={args.prompt_file}", f"tasks.env_seed={seed}"]
        for method, level in (("dpo", "trajectory"), ("dpo-step", "step"), ("dpo-sft", "trajectory")):
            if method in args.methods:  # all pair the same exploration (dpo-seedN/explore), at their own level
                sft = [f"dpo.sft_weight={args.sft_weight}"] if method == "dpo-sft" else []
                tasks = ([f"explore.data={files['train']}"] if args.benchmark == "dbbench" else
                         ["explore.benchmark=alfworld-sim", "explore.data=null", f"explore.task_seed={ALF_EXPLORE_SEED}",
                          *world_overrides("explore")])
                commands[f"train-{method}-seed{seed}"] = abtune + [
                    "dpo-round", "--config", str(ROOT / "configs" / "dpo_learning_smollm2.yaml"), *common,
                    f"explore.out={out / f'dpo-seed{seed}'}", f"train.output_dir={run_dir(out, method, seed)}",
                    f"train.seed={seed}", f"train.learning_rate={args.dpo_lr}", *tasks,
                    f"explore.tasks={args.dpo_tasks}", f"explore.prompt_file={args.prompt_file}",
                    f"explore.seeds=[{seed}]", f"explore.level={level}", f"pairs.level={level}", *sft]
    return commands


def world_overrides(section: str) -> list[str]:
    """learning.py's easy ALFWorld worlds, as `<section>.world.*` overrides."""
    from dataclasses import asdict

    from agentbench_tuning.config import SimWorld

    return [f"{section}.world.{key}={value}" for key, value in asdict(SimWorld.easy()).items()]


def run_dir(out: Path, method: str, seed: int) -> Path:
    """Where a method's training run of one seed writes (its adapter is `final/` there)."""
    return out / f"dpo-seed{seed}" / "dpo" if method == "dpo" else out / f"{method}-seed{seed}"


def method_lanes(commands: dict[str, list[str]], methods: list[str], per_seed: bool = False) -> dict[str, list[str]]:
    """One sequential chain per method family, GRPO and DPO (its training seeds, then their evaluations; the warm
    start's evaluation joins the last chain), the chains side by side. A GRPO process (trainer + in-process vLLM
    engine) peaks at ~13 GB with 4 rows per micro-batch, a DPO round at ~5-12 GB: two GRPO runs at once do not
    fit in 24 GB (the kernel killed one). The two DPO variants share one exploration, so they run in turn.
    `per_seed`: one chain per family and training seed (DPO only: each seed explores on its own)."""
    import re
    import shlex

    chains: dict[str, list[str]] = {}
    for m in methods:
        for key in [k for k in commands if k.startswith((f"train-{m}-seed", f"eval-{m}-seed"))]:
            seed = re.search(r"-seed(\d+)$", key).group(1)
            chain = chains.setdefault(f"train-{m.split('-')[0]}" + (f"-seed{seed}" if per_seed else ""), [])
            if m in SCREENED and "screen" in commands and "screen" not in chain:
                chain.append("screen")  # once, before the first screened method
            chain.append(key)
    chains[list(chains)[-1]].append("eval-warm-start")
    return {name: ["bash", "-c", " && ".join(shlex.join(commands[k]) for k in keys)] for name, keys in chains.items()}


def adapters(out: Path, args) -> dict[str, str | None]:
    """label -> LoRA adapter on the warm start (None: the warm start itself)."""
    runs: dict[str, str | None] = {"warm-start": None}
    for method in args.methods:
        for seed in args.seeds:
            runs[f"{method}-seed{seed}"] = str(run_dir(out, method, seed) / "final")
    return runs


def eval_one(args) -> None:
    """Greedy episodes of the warm start (+ adapter) on the held-out tasks; records under <out>/eval/<label>/."""
    from dataclasses import replace

    from agentbench_tuning.config import (
        EvalRunConfig,
        EvalSettings,
        Limits,
        ModelConfig,
        RolloutSettings,
        Sampling,
        SimWorld,
    )
    from agentbench_tuning.eval.runner import evaluate

    adapter = adapters(args.out, args)[args.label]
    model = args.warm_start
    if adapter:
        # vLLM on CPU serves a LoRA request ~10x slower than the plain model (19 of 120 episodes in 5 minutes vs
        # all 120 in 99 s), so each adapter is merged into the warm start (fp32, checked by `export_merged`
        # against the adapter's logits) and the merged model is evaluated.
        from agentbench_tuning.training.export import export_merged

        model = str(args.out / "merged" / args.label)
        if not (Path(model) / "config.json").is_file():
            export_merged(adapter, model, base=args.warm_start)
    for backend in backends(args):
        if args.benchmark == "alfworld-sim":  # learning.py's easy worlds, its held-out game seed or a new one
            settings = EvalSettings(benchmark="alfworld-sim", games=args.heldout, world=SimWorld.easy(),
                                    game_seed=args.replication if args.replication is not None else ALF_EVAL_SEED)
        else:
            data = (args.out / "data" / "heldout_tasks.jsonl" if args.replication is None
                    else replication_tasks(args.out, args.heldout, args.replication))
            settings = EvalSettings(benchmark="dbbench", data=str(data), backend=backend)
        evaluate(EvalRunConfig(
            model=ModelConfig(name_or_path=model),
            rollout=RolloutSettings(engine="vllm", limits=Limits(progress=True),
                                    sampling=Sampling(temperature=0.0, max_new_tokens=args.max_new_tokens)),
            eval=replace(settings, prompt_file=args.prompt_file, out=str(args.out / eval_dir(args) / args.label / backend))))


def backends(args) -> list[str]:
    """Where each model is evaluated: DB Bench's backends, or ALFWorld's simulator."""
    return ["sim"] if args.benchmark == "alfworld-sim" else ["sqlite"] + (["mysql"] if args.mysql else [])


def eval_dir(args) -> str:
    return "eval" if args.replication is None else f"eval-{replication_name(args.replication)}"


def eval_commands(args) -> dict[str, list[str]]:
    """`eval-one` per model, with exactly the options it reads."""
    shared = ["--benchmark", args.benchmark, "--warm-start", args.warm_start, "--prompt-file", args.prompt_file, "--out", str(args.out),
              "--seeds", ",".join(map(str, args.seeds)), "--methods", ",".join(args.methods),
              "--max-new-tokens", str(args.max_new_tokens)] + (["--mysql"] if args.mysql else [])
    return {f"eval-{label}": [sys.executable, str(Path(__file__).resolve()), "eval-one", "--label", label, *shared]
            for label in adapters(args.out, args)}


# ------------------------------------------------------------------ report


def records(out: Path, label: str, backend: str = "sqlite", where: str = "eval") -> list[dict]:
    from agentbench_tuning.records import latest_records

    path = out / where / label / backend / "records.jsonl"
    return latest_records(path) if path.exists() else []


def summarize(out: Path, args, where: str = "eval") -> dict:
    """Per method: pooled rate + CI, per seed, per type, and the paired comparison with the warm start."""
    from agentbench_tuning.eval.stats import compare_runs, per_type, proportion

    table: dict = {}
    for backend in backends(args):
        warm = records(out, "warm-start", backend, where)
        table[backend] = {}
        if not warm:
            continue
        for method in ["warm-start", *args.methods]:
            per_seed = {s: records(out, f"{method}-seed{s}", backend, where) for s in args.seeds} \
                if method != "warm-start" else {s: warm for s in args.seeds[:1]}
            if not all(per_seed.values()):
                continue
            pooled = [r for rs in per_seed.values() for r in rs]
            p = proportion(sum(bool(r["success"]) for r in pooled), len(pooled))
            row = {"successes": p.successes, "n": p.n, "rate": p.rate, "ci": [p.ci.low, p.ci.high],
                   "per_seed": {s: round(sum(bool(r["success"]) for r in rs) / len(rs), 4) for s, rs in per_seed.items()},
                   "per_type": {t: [q.successes, q.n] for t, q in per_type(pooled).items()},
                   "round_limit": sum(r["status"] == "task limit reached" for r in pooled)}
            if method != "warm-start":
                # Greedy evaluation: the warm start's episode of an item is the same for every training seed, so
                # it is paired with each seed's episode of that item (seed = training seed on both sides).
                a = [{**r, "seed": s} for s in args.seeds for r in warm]
                b = [{**r, "seed": s} for s, rs in per_seed.items() for r in rs]
                c = compare_runs(a, b, names=("SFT warm start", f"SFT + {method.upper()}"))
                row["vs_warm_start"] = {"difference": c.difference, "ci": [c.ci.low, c.ci.high], "p_value": c.p_value,
                                        "warm_better": c.b, "method_better": c.c, "items": c.n_items,
                                        "verdict": c.verdict}
            table[backend][method] = row
    return table


def training_logs(out: Path, args) -> dict:
    """Per run: the logged curves that say whether RL did anything (reward, loss, logprob gap, s/step)."""
    logs: dict = {}
    for method in args.methods:
        for seed in args.seeds:
            state = run_dir(out, method, seed) / "final" / "trainer_state.json"
            if not state.is_file():
                continue
            history = json.loads(state.read_text())["log_history"]
            keys = ("reward", "loss", "logprob_gap/max", "logprob_gap/mean", "rewards/margins", "rewards/accuracies",
                    "episodes/success", "episodes/truncated", "groups/zero_std_count", "step_time", "rollout/seconds")
            curves = {k: [(e["step"], e[k]) for e in history if k in e] for k in keys}
            logs[f"{method}-seed{seed}"] = {k: v for k, v in curves.items() if v}
            summary = [e for e in history if "train_runtime" in e]
            if summary:
                logs[f"{method}-seed{seed}"]["train_runtime_s"] = summary[-1]["train_runtime"]
                logs[f"{method}-seed{seed}"]["steps"] = summary[-1]["step"]
            if method in SCREENED and (out / "screen" / "records.jsonl").exists():
                from agentbench_tuning.training.grpo import screen_pass_rates

                rates = screen_pass_rates(out / "screen", out / "data" / "train_tasks.jsonl")
                low, high = (float(x) for x in args.pass_rate.split(","))
                logs[f"{method}-seed{seed}"]["screen"] = {
                    "tasks": len(rates), "kept": sum(low <= w / n <= high for w, n in rates.values()),
                    "success": round(sum(w for w, _ in rates.values()) / sum(n for _, n in rates.values()), 4)}
            if method.startswith("dpo"):
                pairs = out / f"dpo-seed{seed}" / ("pairs_step.jsonl" if method == "dpo-step" else "pairs_trajectory.jsonl")
                explore = out / f"dpo-seed{seed}" / "explore" / "summary.json"
                logs[f"{method}-seed{seed}"]["pairs"] = sum(1 for _ in pairs.open()) if pairs.exists() else 0
                if explore.exists():
                    logs[f"{method}-seed{seed}"]["explore_success"] = json.loads(explore.read_text())["success"]["rate"]
    return logs


def eval_walls(out: Path) -> dict[str, float]:
    """Seconds each held-out evaluation spent generating (vLLM, greedy), from its summary."""
    walls = {}
    for summary in sorted(out.glob("eval/*/*/summary.json")):
        walls[f"{summary.parent.parent.name}/{summary.parent.name}"] = json.loads(summary.read_text())["generate_s"]
    return walls


def plot(table: dict, logs: dict, path: Path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    rows = next(iter(table.values()))
    names = list(rows)
    rates = [rows[n]["rate"] for n in names]
    errs = [[r - rows[n]["ci"][0] for n, r in zip(names, rates, strict=True)],
            [rows[n]["ci"][1] - r for n, r in zip(names, rates, strict=True)]]
    axes[0].bar(names, rates, yerr=errs, capsize=6, color=["#888", "#37a", "#59c", "#5bd", "#3a7", "#a73", "#c95"][: len(names)])
    axes[0].set(title=f"held-out {BENCH_NAMES[args.benchmark]} success (95% Wilson CI)", ylim=(0, 1))
    axes[0].tick_params(axis="x", labelrotation=30)
    for label, curves in logs.items():
        if "reward" in curves:
            axes[1].plot(*zip(*curves["reward"], strict=True), label=label)
        if "rewards/margins" in curves:
            axes[2].plot(*zip(*curves["rewards/margins"], strict=True), label=label)
    axes[1].set(title="GRPO mean reward per step", xlabel="step")
    axes[2].set(title="DPO reward margin (chosen - rejected)", xlabel="step")
    for ax, key in ((axes[1], "reward"), (axes[2], "rewards/margins")):
        if any(key in curves for curves in logs.values()):
            ax.legend(fontsize=7)
        else:  # no run of that kind in this report
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


BENCH_NAMES = {"dbbench": "DB Bench", "alfworld-sim": "ALFWorld (simulator)"}


def stem(args) -> str:
    """The report's file name: benchmarks/results/<stem>.{md,json,png}."""
    if getattr(args, "results_name", None):
        return args.results_name
    return "rl_learning" if args.benchmark == "dbbench" else "rl_learning_alfworld"


def write_report(out: Path, args, timings: dict) -> Path:
    from agentbench_tuning.records import write_json_atomic

    table, logs = summarize(out, args), training_logs(out, args)
    seeds = sorted(int(d.name.removeprefix("eval-replication-seed")) for d in out.glob("eval-replication-seed*"))
    replications = {seed: summarize(out, args, f"eval-{replication_name(seed)}")
                    for seed in ([REPLICATION_SEED] if (out / "eval-replication").is_dir() else []) + seeds}
    replication = replications.get(REPLICATION_SEED, {})
    timings = {**timings, "eval_generate_s": eval_walls(out)}
    report = {"command": COMMAND, "warm_start": args.warm_start, "seeds": args.seeds, "methods": args.methods,
              "table": table, "replication": replication, "replications": replications, "training": logs, "timings": timings, "date": time.strftime("%Y-%m-%d"),
              "machine": f"{os.cpu_count()} CPU cores, no GPU", "load_avg_end": os.getloadavg()}
    write_json_atomic(out / "report.json", report)
    plot(table, logs, out / f"{stem(args)}.png", args)
    heldout = (f"{args.heldout} generated tasks on held-out tables" if args.benchmark == "dbbench" else
               f"{args.heldout} generated easy-world games of game seed {ALF_EVAL_SEED} (DPO explored seed "
               f"{ALF_EXPLORE_SEED}, the warm start's SFT games were seed 1)")
    lines = [f"# RL after SFT: {'GRPO and DPO' if args.benchmark == 'dbbench' else 'DPO'} on held-out "
             f"{BENCH_NAMES[args.benchmark]} tasks (SmolLM2-135M, CPU)", "", f"`{COMMAND}`", "",
             f"Warm start: `{args.warm_start}`. Training seeds {args.seeds}; greedy evaluation on "
             f"{heldout} (vLLM; each adapter merged into the warm start). "
             "Training and evaluation commands: `<out>/logs/`.", ""]
    new_set = ("unused held-out tables" if args.benchmark == "dbbench" else "new games")
    sections = [(backend, rows) for backend, rows in table.items()] + [
        (f"replication: {rows['warm-start']['n']} new held-out tasks "
         f"(generator seed {seed}, {new_set}), {backend}", rows)
        for seed, table_of_set in replications.items() for backend, rows in table_of_set.items() if rows]
    for backend, rows in sections:
        lines += [f"## {backend}", "", "| model | success | 95% CI | per training seed | vs warm start (paired) | "
                  "episodes ended by the round limit |", "|---|---|---|---|---|---|"]
        for name, row in rows.items():
            vs = row.get("vs_warm_start")
            paired = (f"{vs['difference']:+.3f} [{vs['ci'][0]:+.3f}, {vs['ci'][1]:+.3f}], items better/worse "
                      f"{vs['method_better']}/{vs['warm_better']}, p = {vs['p_value']:.3g}") if vs else ""
            lines.append(f"| {name} | {row['successes']}/{row['n']} = {row['rate']:.3f} | "
                         f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}] | {row['per_seed']} | {paired} | "
                         f"{row['round_limit']}/{row['n']} |")
        lines += ["", "Per type (successes/episodes): " + "; ".join(
            f"{name}: " + ", ".join(f"{t} {s}/{n}" for t, (s, n) in sorted(row["per_type"].items()))
            for name, row in rows.items()), ""]
        lines += [f"- {row['vs_warm_start']['verdict']}" for row in rows.values() if "vs_warm_start" in row] + [""]
    lines += ["## Training", ""]
    for label, curves in logs.items():
        facts = [f"{curves.get('steps', '?')} steps in {curves.get('train_runtime_s', 0):.0f} s"]
        if "step_time" in curves:
            times = sorted(v for _, v in curves["step_time"])
            facts.append(f"s/step median {times[len(times) // 2]:.0f} (range {times[0]:.0f}-{times[-1]:.0f})")
        for key in ("reward", "episodes/success", "loss", "rewards/margins", "logprob_gap/max"):
            if key in curves:
                values = [v for _, v in curves[key]]
                facts.append(f"{key} {values[0]:.3f} -> {values[-1]:.3f}" + (f" (max {max(values):.2g})" if "gap" in key else ""))
        if "screen" in curves:
            screen = curves["screen"]
            facts.append(f"screen: warm-start success {screen['success']:.3f} at T 0.8, {screen['kept']} of "
                         f"{screen['tasks']} tasks kept (pass rate in [{args.pass_rate}])")
        if "pairs" in curves:
            facts.append(f"exploration success {curves.get('explore_success', float('nan')):.3f}, {curves['pairs']} pairs")
        lines.append(f"- {label}: " + "; ".join(facts))
    lines += ["", f"Timings (s): {timings}; machine: {report['machine']}, load at the end {report['load_avg_end']}.",
              "", f"![curves]({stem(args)}.png)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    if args.publish:
        RESULTS.mkdir(exist_ok=True)
        shutil.copy(out / "report.md", RESULTS / f"{stem(args)}.md")
        shutil.copy(out / "report.json", RESULTS / f"{stem(args)}.json")
        shutil.copy(out / f"{stem(args)}.png", RESULTS / f"{stem(args)}.png")
    print("\n".join(lines))
    return out / "report.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", nargs="?", default="all", choices=["all", "report", "eval-one"])
    parser.add_argument("--benchmark", default="dbbench", choices=["dbbench", "alfworld-sim"],
                        help="alfworld-sim: DPO methods only, on learning.py's easy simulator worlds")
    parser.add_argument("--warm-start", required=True, help="the SFT model directory (full fine-tune)")
    parser.add_argument("--prompt-file", required=True,
                        help="the prompt file the warm start was trained with (DB Bench text, or ALFWorld prompts JSON)")
    parser.add_argument("--out", type=Path, default=Path("runs/rl-learning"))
    parser.add_argument("--seeds", default="0,1", help="training seeds per method")
    parser.add_argument("--methods", default="grpo,grpo-screen,grpo-keep,dpo,dpo-step,dpo-sft",
                        help="grpo | grpo-screen (GRPO on the tasks the warm start solves sometimes) | grpo-keep "
                             "(grpo-screen with grpo.truncated keep: episodes cut by the context are trained as "
                             "failures) | dpo (whole-trajectory pairs) | dpo-step (one turn at the first divergence) "
                             "| dpo-sft (whole-trajectory pairs + the chosen side's NLL, dpo.sft_weight)")
    parser.add_argument("--heldout", type=int, default=120)
    parser.add_argument("--train-tasks", type=int, default=128)
    parser.add_argument("--grpo-steps", type=int, default=20)
    parser.add_argument("--grpo-lr", type=float, default=2e-4)
    parser.add_argument("--grpo-tasks", type=int, default=128)
    parser.add_argument("--screen-samples", type=int, default=4, help="grpo-screen, grpo-keep: sampled episodes per task in the screen")
    parser.add_argument("--pass-rate", default="0.25,0.75", help="grpo-screen, grpo-keep: train on the tasks with this pass rate")
    parser.add_argument("--sft-weight", type=float, default=1.0, help="dpo-sft: weight of the chosen-side NLL term")
    parser.add_argument("--dpo-lr", type=float, default=2e-4)
    parser.add_argument("--dpo-tasks", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--mysql", action="store_true", help="also evaluate on MariaDB (`abtune db start`)")
    parser.add_argument("--label", help="eval-one: which model")
    parser.add_argument("--replication", type=int, nargs="?", const=REPLICATION_SEED, default=None, metavar="SEED",
                        help=f"eval-one: evaluate on another held-out set: generator seed SEED (default "
                             f"{REPLICATION_SEED}: data/heldout_replication.jsonl; others: "
                             "data/heldout_replication-seedSEED.jsonl), --heldout tasks on tables no other set uses")
    parser.add_argument("--publish", action="store_true",
                        help="copy the report to benchmarks/results/rl_learning.* (rl_learning_alfworld.* for alfworld-sim)")
    parser.add_argument("--results-name", help="publish under benchmarks/results/<NAME>.* instead (a variant run that "
                                               "must not replace the main report)")
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.methods = [m for m in args.methods.split(",") if m]
    if args.benchmark == "alfworld-sim" and set(args.methods) - set(DPO_METHODS):
        raise SystemExit(f"--benchmark alfworld-sim runs {', '.join(DPO_METHODS)} only (a multi-turn ALFWorld GRPO "
                         "step takes ~30 min on 2 cores); pass e.g. --methods dpo-step")
    if args.stage == "eval-one":
        return eval_one(args)
    if args.stage == "report":
        timings = json.loads((args.out / "timings.json").read_text()) if (args.out / "timings.json").exists() else {}
        write_report(args.out, args, timings)
        return
    if not (Path(args.warm_start) / "config.json").is_file():
        raise SystemExit(f"--warm-start {args.warm_start}: no model there; make it with benchmarks/learning.py "
                         "--preset both-cpu --seeds 0 --out runs/learning-both")
    started = time.perf_counter()
    files = prepare(args.out, args.heldout, args.train_tasks) if args.benchmark == "dbbench" else {}
    commands = {**train_commands(args.out, files, args), **eval_commands(args)}
    lanes = method_lanes(commands, args.methods, per_seed=args.benchmark == "alfworld-sim")
    timings = {"chains": run_parallel(lanes, args.out / "logs")}
    timings["wall_s"] = round(time.perf_counter() - started, 1)
    (args.out / "timings.json").write_text(json.dumps(timings, indent=1))
    write_report(args.out, args, timings)


if __name__ == "__main__":
    main()
