# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning", "marimo>=0.25", "pandas"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""Generated ALFWorld SFT data from our household simulator (no ALFWorld data), in its three formats:
recorded (whole expert games as the harness left them: no action list anywhere), listed (whole games, every
observation with the action list it was sent with; what benchmarks/learning.py trains) and steps (one sample
per expert step under the exact prompt the harness sent, only the newest answer trained). docs/learning.md
compares them.

marimo edit dataset/alfworld_gen.py
python dataset/alfworld_gen.py --games 12 --seed 1 --format listed    # headless, as CI runs it
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
    data_format = mo.ui.dropdown(["recorded", "listed", "steps"], value=args.get("format", "listed"),
                                 label="format")
    mo.hstack([games, seed, data_format])
    return data_format, games, seed


@app.cell
def _(alfworld, data_format, games, seed):
    from agentbench_tuning.data.generated import (
        alfworld_listed_conversations,
        alfworld_step_samples,
        generated_sft,
    )

    if data_format.value == "recorded":  # the `gen:alfworld:N` source
        conversations = generated_sft("alfworld-sim", games.value, seed=seed.value)
    elif data_format.value == "listed":  # `gen:alfworld-listed:N`
        conversations = list(alfworld_listed_conversations(games.value, seed=seed.value))
    else:  # `gen:alfworld-steps:N`
        conversations = list(alfworld_step_samples(games.value, seed=seed.value))
    return (conversations,)


@app.cell
def _(conversations, mo):
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "index": c["index"],
                "step": c.get("step"),  # steps format: which expert step this sample trains
                "task_type": c["task_type"],
                "seed": c["seed"],
                "steps": c.get("steps"),
                "messages": len(c["messages"]),
                # response-only masking: an assistant turn without `loss` is trained
                "trained_turns": sum(m["role"] == "assistant" and m.get("loss", True) for m in c["messages"]),
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
    per_type = table.groupby("task_type")["trained_turns"].agg(["count", "mean", "sum"]).reset_index()
    mo.vstack(
        [
            mo.md(f"### Samples ({len(table)})"),
            mo.ui.table(table),
            mo.md("### Samples and trained turns per task type"),
            mo.ui.table(per_type),
        ]
    )
    return (table,)


@app.cell
def _(conversations, mo):
    picked = mo.ui.dropdown(
        {f"{c['index']}" + (f" step {c['step']}" if "step" in c else ""): i for i, c in enumerate(conversations)},
        value="0" + (" step 0" if "step" in conversations[0] else ""),
        label="sample",
    )
    mo.output.replace(picked)
    return (picked,)


@app.cell
def _(conversations, mo, picked):
    conv = conversations[picked.value]
    start = next(i for i, m in enumerate(conv["messages"]) if m["content"].startswith("Here is your task."))
    mo.vstack(
        [
            mo.md(
                f"**{m['role']}**"
                + (" (trained)" if m["role"] == "assistant" and m.get("loss", True) else "")
                + f"\n\n```\n{m['content']}\n```"
            )
            for m in conv["messages"][start:]
        ]
    )
    return


if __name__ == "__main__":
    app.run()
