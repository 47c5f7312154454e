# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning", "marimo>=0.25", "matplotlib>=3.8"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""Inspect a training dataset: load and validate it, stats per task/source, token lengths against the
8,192-token evaluation context, the context report, dedupe/split, and which tokens are trained.

    marimo edit dataset/inspect_data.py                        # interactive
    python dataset/inspect_data.py --path data.jsonl --family qwen2.5 --max-length 8192
    python dataset/inspect_data.py --debug                     # the packaged sample file, headless

(Not called inspect.py: run as a script, that name would shadow the standard library's `inspect`.)
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo
    import matplotlib.pyplot as plt

    from agentbench_tuning.chat import context_report, encode_messages, show_mask
    from agentbench_tuning.data import describe, load_conversations, prepare_conversations, sample_path
    from agentbench_tuning.models import FAMILIES, offline_tokenizer
    from agentbench_tuning.notebooks import cli_args

    return (
        FAMILIES,
        cli_args,
        context_report,
        describe,
        encode_messages,
        load_conversations,
        mo,
        offline_tokenizer,
        plt,
        prepare_conversations,
        sample_path,
        show_mask,
    )


@app.cell
def _(FAMILIES, cli_args, mo, sample_path):
    # Not mo.cli_args(): that raises in the exported ipynb on Colab, where there is no marimo runtime.
    args = cli_args()
    # --debug: the packaged made-up sample, whatever --path says, and a text summary on stdout.
    debug = "debug" in args
    path = mo.ui.text(
        value=str(sample_path() if debug or not args.get("path") else args["path"]),
        label="data file (.jsonl / .json / .parquet) or hub dataset id",
        full_width=True,
    )
    split = mo.ui.text(value=str(args.get("split") or "train"), label="hub split")
    family = mo.ui.dropdown(options=list(FAMILIES), value=str(args.get("family") or "qwen3-2507"), label="model family")
    max_length = mo.ui.number(
        start=128, stop=262144, step=128, value=int(args.get("max-length") or 8192), label="max length (tokens)"
    )
    validation_fraction = mo.ui.number(
        start=0.0, stop=0.5, step=0.01, value=float(args.get("validation-fraction") or (0.25 if debug else 0.05)), label="validation fraction"
    )
    mo.vstack([mo.md("# Inspect a training dataset"), path, mo.hstack([split, family, max_length, validation_fraction])])
    return debug, family, max_length, path, split, validation_fraction


@app.cell
def _(load_conversations, mo, path, split):
    # Bad records are listed, not fatal, so one typo does not hide the rest of the file.
    loaded = load_conversations(path.value, split=split.value, on_error="skip")
    skipped = mo.md("**Skipped records:**\n\n" + "\n".join(f"- `{e}`" for e in loaded.skipped[:20]))
    mo.vstack([mo.md(f"**{loaded.summary()}**"), skipped if loaded.skipped else mo.md("")])
    return (loaded,)


@app.cell
def _(describe, encode_messages, family, loaded, max_length, mo, offline_tokenizer):
    mo.stop(not loaded.conversations, mo.md("No valid conversations to inspect."))
    # The offline tokenizer has the real ids and the official chat template, so no hub download is needed.
    tokenizer = offline_tokenizer(family.value)
    encoded = [encode_messages(c["messages"], tokenizer) for c in loaded.conversations]
    stats = describe(loaded.conversations, encoded, max_length.value)
    return encoded, stats, tokenizer


@app.cell
def _(loaded, mo, stats):
    from collections import Counter

    def _rows(counts):
        return [{"name": name, "conversations": n} for name, n in counts.items()]

    per_type = dict(Counter(str(c["type"]) for c in loaded.conversations if c.get("type")).most_common())

    mo.vstack(
        [
            mo.md(f"## Statistics\n\n{stats.summary()}"),
            mo.hstack([mo.ui.table(_rows(stats.per_task), label="per task"), mo.ui.table(_rows(stats.per_source), label="per source")]),
            # Our generated DB Bench files carry `type` (INSERT, UPDATE, ...) rather than `task`/`source`.
            mo.ui.table(_rows(per_type), label="per type") if per_type else mo.md(""),
        ]
    )
    return (per_type,)


@app.cell
def _(max_length, plt, stats, encoded):
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.hist([len(e) for e in encoded], bins=min(50, max(5, len(encoded))), color="#4c72b0")
    ax.axvline(max_length.value, color="#c44e52", linestyle="--", label=f"max length {max_length.value}")
    ax.set_xlabel("tokens per conversation (chat template)")
    ax.set_ylabel("conversations")
    ax.set_title(f"{stats.over_limit} of {stats.conversations} over the limit")
    ax.legend()
    fig.tight_layout()
    fig
    return


@app.cell
def _(context_report, encoded, loaded, max_length, mo, prepare_conversations, tokenizer, validation_fraction):
    reports = {policy: context_report(encoded, max_length.value, policy) for policy in ("drop", "truncate_turns")}
    prepared = prepare_conversations(loaded.conversations, tokenizer, max_length.value, validation_fraction.value)
    mo.md(
        "## Context budget and curation\n\n"
        + "\n".join(f"- `{policy}`: {report.summary()}" for policy, report in reports.items())
        + f"\n\n{prepared.summary()}"
    )
    return prepared, reports


@app.cell
def _(encoded, mo):
    example = mo.ui.slider(0, max(len(encoded) - 1, 0), value=0, label="example", show_value=True)
    example
    return (example,)


@app.cell
def _(encoded, example, loaded, mo, show_mask, tokenizer):
    conversation = loaded.conversations[example.value]
    mo.vstack(
        [
            mo.md(f"## Trained tokens (green)\n\ntask `{conversation['task']}`, source `{conversation['source']}`, "
                  f"{len(encoded[example.value])} tokens, {encoded[example.value].num_trained} trained"),
            mo.Html(show_mask(encoded[example.value], tokenizer, fmt="html")),
        ]
    )
    return


@app.cell
def _(debug, encoded, example, loaded, per_type, prepared, reports, show_mask, stats, tokenizer):
    if debug:
        # Script mode shows no UI, so print what the cells above display.
        print(loaded.summary())
        print(stats.summary())
        print("types:", ", ".join(f"{name} {n}" for name, n in per_type.items()) or "(none)")
        print(reports["drop"].summary())
        print(prepared.summary())
        print(show_mask(encoded[example.value], tokenizer, fmt="plain")[-300:])
    return


if __name__ == "__main__":
    app.run()
