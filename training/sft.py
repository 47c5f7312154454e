# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning[qlora,track]", "marimo>=0.25"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""LoRA / QLoRA SFT for Qwen on our DB Bench and ALFWorld conversations.

Interactive: `marimo edit training/sft.py`. Script: `python training/sft.py --config configs/debug.yaml`, which
trains exactly what the YAML says; `--section.key value` overrides one field (`--train.max_steps 2`,
`--train.output_dir runs/try`), `--debug` = the CPU demo config with a few steps. The widgets start from
the config's values, so only a widget you change overrides it. A finished run is reported, not trained
again; resuming an older run's checkpoint says so first. `--config` takes a file or a shipped preset
(configs/NAME.yaml, found even outside the checkout). Colab: `scripts/export_to_ipynb.sh` makes the ipynb;
there output_dir goes on Google Drive (`--no-drive` keeps it on the VM) and running it again resumes.
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
    from agentbench_tuning.notebooks import changed_overrides, cli_args, config_overrides, output_on_drive, shows_html
    from agentbench_tuning.presets import list_presets, resolve_config
    from agentbench_tuning.training.runtime import use_plain_progress
    from agentbench_tuning.training.sft import build_sft_trainer, train
    from agentbench_tuning.training.sft_data import load_sources

    return (
        build_sft_trainer,
        changed_overrides,
        cli_args,
        config_overrides,
        config_to_dict,
        encode_messages,
        list_presets,
        load_sft_config,
        load_sources,
        load_tokenizer,
        mo,
        output_on_drive,
        resolve_config,
        show_mask,
        shows_html,
        train,
        use_plain_progress,
    )


@app.cell
def _(cli_args, config_overrides, list_presets, mo):
    args = cli_args()
    debug = "debug" in args
    # --debug: the CPU demo, a few steps on a small generated set; explicit --section.key arguments still win.
    debug_overrides = ["train.max_steps=6", "data.train=[gen:dbbench:16, gen:alfworld:8]", "train.eval_steps=3",
                       "train.save_steps=3", "train.logging_steps=1", "train.output_dir=runs/notebook_debug"]
    arg_overrides = (debug_overrides if debug else []) + config_overrides(
        args, own=("config", "debug", "no-drive"),
        shorthands={"max_steps": "train.max_steps", "output_dir": "train.output_dir"})
    # The shipped presets (packaged with the toolkit, so Colab has them too) or a YAML of your own.
    default = str(args.get("config") or "configs/debug.yaml")
    config_path = mo.ui.dropdown(options=sorted({*list_presets(), default}), value=default, label="run config")
    config_path
    return arg_overrides, args, config_path, debug, default


@app.cell
def _(arg_overrides, config_path, default, load_sft_config, resolve_config):
    config_file = resolve_config(config_path.value or default)
    base_cfg = load_sft_config(config_file, arg_overrides)
    return base_cfg, config_file


@app.cell
def _(args, base_cfg, output_on_drive):
    # Google Drive (Colab only; elsewhere this does nothing): mounts Drive and moves output_dir to
    # MyDrive/abtune/<output_dir>, so the checkpoints outlive the VM. After a disconnect, run the notebook again
    # with the same arguments: training resumes from the last checkpoint there. `--no-drive` keeps it on the VM.
    run_dir = output_on_drive(base_cfg.train.output_dir, args)
    return (run_dir,)


@app.cell
def _(base_cfg, mo, run_dir):
    # The widgets start at the chosen config's values (after the command-line overrides), so leaving them
    # alone trains exactly what the YAML says (on Drive in Colab).
    max_steps = mo.ui.number(start=-1, stop=100000, value=base_cfg.train.max_steps,
                             label="max_steps (-1 = by epochs)")
    output_dir = mo.ui.text(value=run_dir, label="output_dir", full_width=True)
    run = mo.ui.run_button(label="Train")
    mo.vstack([mo.md("## Supervised fine-tuning"), max_steps, output_dir, run])
    return max_steps, output_dir, run


@app.cell
def _(arg_overrides, base_cfg, changed_overrides, config_dict_view, config_file, load_sft_config, max_steps,
      output_dir):
    widget_overrides = changed_overrides(
        base_cfg, {"train.max_steps": max_steps.value, "train.output_dir": output_dir.value})
    cfg = load_sft_config(config_file, arg_overrides + widget_overrides)
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
def _(build_sft_trainer, cfg, debug, mo, run, shows_html, train, use_plain_progress):
    # In marimo, wait for the button; in Jupyter/Colab (exported) and in script mode, running the cell trains.
    mo.stop(mo.running_in_notebook() and not (run.value or debug), mo.md("Press **Train** to start."))
    setup = build_sft_trainer(cfg)
    if not shows_html():
        use_plain_progress(setup.trainer)
    # A finished run is not trained again; resuming an older run's checkpoint replaces its final/ (the
    # notice says so, and names a merged/ export that would then be stale).
    result = train(setup, cfg)
    if result.already_finished:
        summary = f"Nothing trained: {setup.notice}"
    else:
        resumed = f" (resumed from `{result.resumed_from}`)" if result.resumed_from else ""
        summary = (f"Trained {result.global_step} steps{resumed}; adapter saved to `{result.adapter_dir}`. "
                   f"Context: {setup.context_train.summary()}")
    print(summary)
    mo.vstack([mo.callout(mo.md(setup.notice), kind="warn") if setup.notice else mo.md(""), mo.md(summary)])
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
