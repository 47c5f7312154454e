# /// script
# requires-python = ">=3.10"
# dependencies = ["agentbench-tuning[qlora,track]", "marimo"]
# ///
"""LoRA / QLoRA SFT for Qwen on our DB Bench and ALFWorld conversations.

Interactive: `marimo edit training/sft.py`. Script: `python training/sft.py --config configs/debug.yaml`
(`--debug` = the CPU demo config with a few steps). Colab: `scripts/export_to_ipynb.sh` makes the ipynb.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from agentbench_tuning.chat import encode_messages, show_mask
    from agentbench_tuning.config import config_to_dict, load_sft_config
    from agentbench_tuning.models import load_tokenizer
    from agentbench_tuning.training.sft import build_sft_trainer, train
    from agentbench_tuning.notebooks import cli_args
    from agentbench_tuning.training.sft_data import load_sources

    return (
        build_sft_trainer,
        cli_args,
        config_to_dict,
        encode_messages,
        load_sources,
        load_sft_config,
        load_tokenizer,
        mo,
        show_mask,
        train,
    )


@app.cell
def _(cli_args, mo):
    import glob

    args = cli_args()
    debug = "debug" in args
    presets = sorted(glob.glob("configs/*.yaml"))
    default = str(args.get("config") or "configs/debug.yaml")
    config_path = mo.ui.dropdown(options=presets or [default], value=default if default in presets else None,
                                 label="run config")
    max_steps = mo.ui.number(start=-1, stop=100000, value=int(args.get("max_steps", 6 if debug else -1)),
                             label="max_steps (-1 = by epochs)")
    run = mo.ui.run_button(label="Train")
    mo.vstack([mo.md("## Supervised fine-tuning"), config_path, max_steps, run])
    return args, config_path, debug, default, max_steps, run


@app.cell
def _(args, config_dict_view, config_path, debug, default, load_sft_config, max_steps, mo):
    overrides = [f"train.max_steps={max_steps.value}"]
    if debug:
        overrides += ["data.train=[gen:dbbench:16, gen:alfworld:8]", "train.eval_steps=3", "train.save_steps=3",
                      "train.logging_steps=1", "train.output_dir=runs/notebook_debug"]
    cfg = load_sft_config(config_path.value or default, overrides)
    config_dict_view(cfg)
    return (cfg,)


@app.cell
def _(config_to_dict, mo):
    def config_dict_view(cfg):
        rows = [{"key": f"{section}.{k}", "value": str(v)}
                for section, values in config_to_dict(cfg).items() for k, v in values.items()]
        return mo.ui.table(rows, selection=None, label="resolved config")

    return (config_dict_view,)


@app.cell
def _(cfg, encode_messages, load_sources, load_tokenizer, mo, show_mask):
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    sample = load_sources(cfg.data.train[:1])[0]
    encoded = encode_messages(sample["messages"], tokenizer)
    mo.vstack([
        mo.md(f"### What the loss sees\n{encoded.num_trained} of {len(encoded)} tokens trained "
              "(green: each assistant turn's content and its `<|im_end|>`)"),
        mo.Html(show_mask(encoded, tokenizer, fmt="html")),
    ])
    return


@app.cell
def _(build_sft_trainer, cfg, debug, mo, run, train):
    # In marimo, wait for the button; in Jupyter/Colab (exported) and in script mode, running the cell trains.
    mo.stop(mo.running_in_notebook() and not (run.value or debug), mo.md("Press **Train** to start."))
    setup = build_sft_trainer(cfg)
    result = train(setup, cfg)
    mo.md(f"Trained {result.global_step} steps; adapter saved to `{result.adapter_dir}`. "
          f"Context: {setup.context_train.summary()}")
    return (result,)


@app.cell
def _(mo, result):
    import matplotlib.pyplot as plt

    history = result.log_history
    train_points = [(e["step"], e["loss"]) for e in history if "loss" in e]
    eval_points = [(e["step"], e["eval_loss"]) for e in history if "eval_loss" in e]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(*zip(*train_points), label="train loss")
    if eval_points:
        ax.plot(*zip(*eval_points), "o-", label="eval loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    mo.vstack([mo.md("### Loss curves"), fig,
               mo.md(f"Merge for serving: `abtune export --adapter {result.adapter_dir} "
                     f"--out {result.output_dir / 'merged'}`")])
    return


if __name__ == "__main__":
    app.run()
