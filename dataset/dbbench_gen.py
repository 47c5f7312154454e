# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning", "marimo>=0.25"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""DB Bench task generator notebook: our own tables, questions, gold answers and expert trajectories.

    marimo edit dataset/dbbench_gen.py
    python dataset/dbbench_gen.py --n 60 --out /tmp/dbbench_gen     # headless
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App()


@app.cell
def _():
    import marimo as mo

    from agentbench_tuning.envs.dbbench import SQLiteBackend
    from agentbench_tuning.envs.dbbench.generate import DBGenConfig, generate, write_generated

    return DBGenConfig, SQLiteBackend, generate, mo, write_generated


@app.cell
def _(mo):
    from agentbench_tuning.notebooks import cli_args  # works in marimo, Jupyter and Colab alike

    args = cli_args()
    n = mo.ui.slider(10, 2000, value=int(args.get("n", 60)), label="samples")
    seed = mo.ui.number(value=int(args.get("seed", 0)), label="seed")
    out = mo.ui.text(value=str(args.get("out", "/tmp/dbbench_gen")), label="output directory")
    mo.vstack([n, seed, out])
    return n, out, seed


@app.cell
def _(DBGenConfig, SQLiteBackend, generate, n, out, seed, write_generated):
    samples = generate(DBGenConfig(n=n.value, seed=seed.value), SQLiteBackend())
    paths = write_generated(samples, out.value, {"n": len(samples), "seed": seed.value})
    return paths, samples


@app.cell
def _(mo, samples):
    from collections import Counter

    counts = Counter(s.task.type for s in samples)
    mo.vstack([
        mo.md(f"**{len(samples)} samples**, {sum(s.heldout for s in samples)} held out"),
        mo.ui.table([{"type": t, "count": c} for t, c in sorted(counts.items())]),
        mo.md("### One expert trajectory"),
        mo.ui.table([{"role": m["role"], "content": m["content"]} for m in samples[0].messages[2:]]),
    ])
    return


if __name__ == "__main__":
    app.run()
