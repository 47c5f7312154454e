# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning", "marimo>=0.25", "pandas"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""Generated ALFWorld SFT conversations from our household simulator (no ALFWorld data).

marimo edit dataset/alfworld_gen.py
python dataset/alfworld_gen.py --games 12 --seed 1     # headless, as CI runs it
"""

import marimo

__generated_with = "0.17.0"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from agentbench_tuning.envs import alfworld

    return alfworld, mo


@app.cell
def _(mo):
    from agentbench_tuning.notebooks import cli_args  # works in marimo, Jupyter and Colab alike

    args = cli_args()
    games = mo.ui.slider(6, 120, step=6, value=int(args.get("games", 12)), label="games")
    seed = mo.ui.number(0, 10_000, value=int(args.get("seed", 1)), label="seed")
    mo.hstack([games, seed])
    return games, seed


@app.cell
def _(alfworld, games, seed):
    from agentbench_tuning.data.generated import generated_sft

    conversations = generated_sft("alfworld-sim", games.value, seed=seed.value)
    return (conversations,)


@app.cell
def _(conversations, mo):
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "index": c["index"],
                "task_type": c["task_type"],
                "seed": c["seed"],
                "won": c["won"],
                "steps": c["steps"],
                "messages": len(c["messages"]),
                "task": c["messages"][
                    next(
                        i
                        for i, m in enumerate(c["messages"])
                        if m["content"].startswith("Here is your task.")
                    )
                ]["content"]
                .split("Your task is to: ")[1]
                .split(" AVAILABLE")[0],
            }
            for c in conversations
        ]
    )
    steps = table.groupby("task_type")["steps"].agg(["count", "mean", "max"]).reset_index()
    mo.vstack(
        [
            mo.md("### Episodes"),
            mo.ui.table(table),
            mo.md("### Expert steps per task type"),
            mo.ui.table(steps),
        ]
    )
    return (table,)


@app.cell
def _(conversations, mo):
    picked = mo.ui.dropdown(
        {str(c["index"]): c["index"] for c in conversations}, value="0", label="conversation"
    )
    mo.output.replace(picked)
    return (picked,)


@app.cell
def _(conversations, mo, picked):
    conv = conversations[picked.value]
    start = next(i for i, m in enumerate(conv["messages"]) if m["content"].startswith("Here is your task."))
    mo.vstack([mo.md(f"**{m['role']}**\n\n```\n{m['content']}\n```") for m in conv["messages"][start:]])
    return


if __name__ == "__main__":
    app.run()
