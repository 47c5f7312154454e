"""`abtune data ...` (our generators, SFT data and DPO pairs from runs) and `abtune prompts import`."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from agentbench_tuning.cli.app import console, data_app, fail, friendly, prompts_app


@data_app.command("dbbench-gen", epilog="Example: abtune data dbbench-gen --n 400 --seed 0 --out data/db")
@friendly
def data_dbbench_gen(
    out: Path = typer.Option(..., "--out", help="Output directory."),
    n: int = typer.Option(400, "--n", help="Number of samples (train + held-out)."),
    seed: int = typer.Option(0, "--seed"),
    heldout_fraction: float = typer.Option(0.1, "--heldout-fraction", help="Share of tables kept for held-out."),
    backend: str = typer.Option("sqlite", "--backend", help="Where gold hashes and expert observations are computed."),
    db_url: str = typer.Option(None, "--db-url", help="mysql://... for --backend mysql (default: the managed server's)."),
) -> None:
    """Generate DB Bench-style tasks with gold answers and expert trajectories (our own data, no AgentBench)."""
    from agentbench_tuning.envs.dbbench import make_backend, server
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate, write_generated

    if n < 1:
        fail(f"--n {n}: must be a positive number of samples")
    if not 0 <= heldout_fraction < 1:
        fail(f"--heldout-fraction {heldout_fraction}: must be in [0, 1)")
    if backend == "mysql" and db_url is None:
        running = server.status()
        db_url = running.url if running else None
    db = make_backend(backend, db_url)
    started = time.perf_counter()
    try:
        samples = generate(DBGenConfig(n=n, seed=seed, heldout_fraction=heldout_fraction), db)
    finally:
        db.close()
    seconds = time.perf_counter() - started
    stats = {"n": len(samples), "seed": seed, "backend": backend, "seconds": round(seconds, 3),
             "heldout": sum(s.heldout for s in samples)}
    paths = write_generated(samples, out, stats)
    typer.echo(f"{len(samples)} samples in {seconds:.1f} s -> " + ", ".join(str(p) for p in paths.values()))


@data_app.command("alfworld-gen", epilog="Example: abtune data alfworld-gen --games 600 --seed 1 --out data/alf.jsonl")
@friendly
def data_alfworld_gen(
    out: Path = typer.Option(..., "--out", help="JSONL of SFT conversations ({messages, task_type, seed, ...})."),
    games: int = typer.Option(600, "--games", help="Number of simulator games (task types round-robin)."),
    seed: int = typer.Option(1, "--seed", help="Generation seed (eval uses 0 by default; keep them apart)."),
    failures: Path = typer.Option(None, "--failures", help="Also write lost episodes (for DPO) to this JSONL."),
    dpo: Path = typer.Option(None, "--dpo", help="Also write step-level DPO pairs to this JSONL."),
    per_step: bool = typer.Option(False, "--per-step", help="One sample per step, prompt exactly as sent then."),
    listed: bool = typer.Option(False, "--listed", help="Whole games, every observation keeping its action list "
                                "(what benchmarks/learning.py trains on; docs/learning.md)."),
) -> None:
    """Write expert conversations from our household simulator in the v0.2 harness format."""
    from agentbench_tuning.data import generated
    from agentbench_tuning.records import write_jsonl

    if games < 1:
        fail(f"--games {games}: must be a positive number of games")
    if per_step and listed:
        fail("--per-step and --listed are two formats; choose one")
    rows = (generated.alfworld_step_samples(games, seed) if per_step else
            generated.alfworld_listed_conversations(games, seed) if listed else
            generated.generated_sft("alfworld-sim", games, seed))
    n = write_jsonl(out, rows)
    typer.echo(f"wrote {n} expert {'step samples' if per_step else 'conversations'} to {out}")
    if failures:
        typer.echo(f"wrote {write_jsonl(failures, generated.alfworld_failures(games, seed))} failures to {failures}")
    if dpo:
        typer.echo(f"wrote {write_jsonl(dpo, generated.alfworld_step_pairs(games, seed))} DPO pairs to {dpo}")


@data_app.command("from-runs", epilog="Example: abtune data from-runs runs/eval/sft-t07 --success-only --out data/rs.jsonl")
@friendly
def data_from_runs(
    runs: list[Path] = typer.Argument(..., help="Evaluation run directories (records.jsonl)."),
    out: Path = typer.Option(..., "--out", help="JSONL of SFT conversations."),
    success_only: bool = typer.Option(True, "--success-only/--all", help="Keep successful episodes only."),
) -> None:
    """Rejection-sampling SFT data: the agent's own turns trained, everything else masked."""
    from agentbench_tuning.data.from_runs import sft_from_runs
    from agentbench_tuning.records import write_jsonl

    conversations = sft_from_runs(runs, success_only=success_only)
    typer.echo(f"wrote {write_jsonl(out, conversations)} conversations to {out}")


@data_app.command("pairs", epilog="Example: abtune data pairs runs/eval/expert runs/eval/explore --out data/pairs.jsonl")
@friendly
def data_pairs(
    runs: list[Path] = typer.Argument(..., help="Run directories over the same tasks (e.g. expert + exploration)."),
    out: Path = typer.Option(..., "--out", help="JSONL of DPO pairs (prompt, chosen, rejected)."),
    level: str = typer.Option("trajectory", "--level", help="trajectory | step"),
) -> None:
    """DPO pairs of the same task: a successful trajectory against a failed one (ETO style)."""
    from agentbench_tuning.data.from_runs import load_run_records, step_pairs, trajectory_pairs
    from agentbench_tuning.records import write_jsonl

    if level not in ("trajectory", "step"):
        fail(f"--level {level!r}: use trajectory or step")
    records = load_run_records(runs)
    pairs = trajectory_pairs(records) if level == "trajectory" else step_pairs(records)
    typer.echo(f"wrote {write_jsonl(out, pairs)} {level} pairs to {out}")


@prompts_app.command("import", epilog="Example: abtune prompts import --agentbench ~/AgentBench --out prompts")
@friendly
def prompts_import(
    agentbench: Path = typer.Option(..., "--agentbench", help="Your own AgentBench (v0.2) checkout."),
    out: Path = typer.Option(Path("prompts"), "--out", help="Where to save the prompt files."),
) -> None:
    """Read the original harness prompts from your AgentBench checkout, for evaluation runs only
    (`eval ... --prompt-file`). Never train on them."""
    from agentbench_tuning.envs import alfworld, dbbench

    if not agentbench.is_dir():
        fail(f"--agentbench {agentbench}: not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for name, importer in (("dbbench", dbbench.import_agentbench_prompts),
                           ("alfworld", alfworld.import_agentbench_prompts)):
        try:
            console.print(f"{name}: saved {importer(agentbench, out)}")
        except (FileNotFoundError, ValueError) as err:
            fail(f"{name}: {err}")


@data_app.command(
    "check-overlap",
    epilog="Example: abtune data check-overlap --train data/train.jsonl gen:alfworld:200 --against db/heldout.jsonl",
)
@friendly
def data_check_overlap(
    train: list[str] = typer.Option(..., "--train", help="Training data: files or gen:<benchmark>:N sources."),
    against: Path = typer.Option(..., "--against", help="A DB Bench JSONL, an ALFWorld game folder or split JSON."),
    max_ngram_overlap: float = typer.Option(0.8, "--max-ngram-overlap", help="Flag an item whose share of "
                                            "8-grams found in training reaches this."),
    max_similarity: float = typer.Option(0.6, "--max-similarity", help="Flag an item whose Jaccard similarity "
                                         "(word 5-grams) with one training message reaches this."),
    data_root: Path = typer.Option(None, "--data-root", help="For a split JSON: the folder its game paths are "
                                   "relative to (v0.2's ALFWORLD_DATA); default: the split file's folder."),
    out: Path = typer.Option(None, "--out", help="Also write the per-item report (JSON) here."),
) -> None:
    """Data-rule guard: n-gram and near-duplicate overlap of training conversations with a benchmark file.
    Exits 1 when any benchmark item reaches a threshold (training data must not contain benchmark data)."""
    import json
    from dataclasses import asdict

    from agentbench_tuning.data.overlap import OverlapSettings, benchmark_items, check_overlap, training_texts
    from agentbench_tuning.training.sft_data import load_sources

    settings = OverlapSettings(max_ngram_overlap=max_ngram_overlap, max_similarity=max_similarity).validate()
    report = check_overlap(training_texts(load_sources(train)), benchmark_items(against, data_root), settings)
    summary = report.summary()
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"summary": summary, "items": [asdict(i) for i in report.items]}, indent=2))
    console.print(f"{summary['items']} benchmark items vs {summary['training_messages']} training messages: "
                  f"max n-gram overlap {summary['max_ngram_overlap']:.3f} (limit {max_ngram_overlap}), "
                  f"max similarity {summary['max_similarity']:.3f} (limit {max_similarity})")
    for item in report.flagged[:10]:
        console.print(f"[red]FLAGGED[/red] {item.key} ({item.kind}): n-gram {item.ngram_overlap:.2f}, "
                      f"similarity {item.similarity:.2f}; closest training text: {item.closest!r}")
    if not report.passed:
        fail(f"{len(report.flagged)} of {summary['items']} items of {against} overlap the training data; remove "
             "those conversations (training on benchmark data breaks the rules)", code=1)
    console.print("[green]passed[/green]: no benchmark item overlaps the training data")
