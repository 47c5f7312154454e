# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning[qlora,track]", "marimo>=0.25"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""DPO (LoRA / QLoRA) for Qwen on step-level or whole-trajectory pairs, observations masked out of the log-ratio.

Interactive: `marimo edit training/dpo.py`. Script: `python training/dpo.py --config configs/dpo_debug.yaml`,
which trains exactly what the YAML says; `--section.key value` overrides one field (`--train.max_steps 2`,
`--dpo.loss_type sigmoid_norm`), `--round` runs a whole explore -> pair -> DPO round first (`abtune dpo-round`),
`--debug` = the CPU demo with a few steps. A finished run is reported, not trained again; a killed one resumes
from its newest complete checkpoint. Colab: `scripts/export_to_ipynb.sh` makes the ipynb; there output_dir goes
on Google Drive (`--no-drive` keeps it on the VM) and running it again resumes.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from agentbench_tuning.config import config_to_dict, load_config
    from agentbench_tuning.eval.runner import evaluate
    from agentbench_tuning.models import load_tokenizer
    from agentbench_tuning.notebooks import changed_overrides, cli_args, config_overrides, output_on_drive, shows_html
    from agentbench_tuning.notebooks import stop
    from agentbench_tuning.presets import list_presets, resolve_config
    from agentbench_tuning.training.dpo import build_dpo_trainer, train
    from agentbench_tuning.training.dpo_data import encode_pair, load_pair_source, show_pair_mask
    from agentbench_tuning.training.dpo_round import dpo_round
    from agentbench_tuning.training.runtime import use_plain_progress

    return (
        build_dpo_trainer,
        changed_overrides,
        cli_args,
        config_overrides,
        config_to_dict,
        dpo_round,
        encode_pair,
        evaluate,
        load_config,
        load_pair_source,
        list_presets,
        load_tokenizer,
        mo,
        output_on_drive,
        resolve_config,
        show_pair_mask,
        shows_html,
        stop,
        train,
        use_plain_progress,
    )


@app.cell
def _(cli_args, config_overrides, list_presets, mo):
    args = cli_args()
    debug = "debug" in args
    do_round = "round" in args
    # --debug: the CPU demo, two steps on the step pairs of one generated game; --section.key arguments still win.
    debug_overrides = ["train.max_steps=2", "pairs.train=[gen:alfworld-steps:1]", "train.logging_steps=1",
                       "train.save_steps=2", "train.output_dir=runs/notebook_dpo_debug"]
    arg_overrides = (debug_overrides if debug else []) + config_overrides(
        args, own=("config", "debug", "round", "no-drive"),
        shorthands={"max_steps": "train.max_steps", "output_dir": "train.output_dir"})
    # The shipped presets (packaged with the toolkit, so Colab has them too) or a YAML of your own.
    presets = [p for p in list_presets() if p.startswith("configs/dpo_")]
    default = str(args.get("config") or "configs/dpo_debug.yaml")
    config_path = mo.ui.dropdown(options=sorted({*presets, default}), value=default, label="run config")
    config_path
    return arg_overrides, args, config_path, debug, default, do_round


@app.cell
def _(arg_overrides, config_path, default, load_config, resolve_config):
    config_file = resolve_config(config_path.value or default)
    base_cfg = load_config(config_file, "dpo", arg_overrides)
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
    # The widgets start at the config's values, so leaving them alone trains exactly what the YAML says.
    max_steps = mo.ui.number(start=-1, stop=100000, value=base_cfg.train.max_steps, label="max_steps (-1 = epochs)")
    beta = mo.ui.number(start=0.001, stop=10.0, step=0.01, value=base_cfg.dpo.beta, label="beta")
    loss_type = mo.ui.dropdown(options=["sigmoid", "sigmoid_norm"], value=base_cfg.dpo.loss_type, label="loss")
    output_dir = mo.ui.text(value=run_dir, label="output_dir", full_width=True)
    run = mo.ui.run_button(label="Train")
    mo.vstack([mo.md("## DPO"), max_steps, beta, loss_type, output_dir, run])
    return beta, loss_type, max_steps, output_dir, run


@app.cell
def _(arg_overrides, base_cfg, beta, changed_overrides, config_file, config_to_dict, load_config, loss_type,
      max_steps, mo, output_dir):
    widget_overrides = changed_overrides(base_cfg, {
        "train.max_steps": max_steps.value, "dpo.beta": beta.value, "dpo.loss_type": loss_type.value,
        "train.output_dir": output_dir.value})
    cfg = load_config(config_file, "dpo", arg_overrides + widget_overrides)
    mo.ui.table([{"key": f"{s}.{k}", "value": str(v)} for s, vals in config_to_dict(cfg).items()
                 for k, v in vals.items()], selection=None, label="resolved config")
    return (cfg,)


@app.cell
def _(cfg, encode_pair, load_pair_source, load_tokenizer, mo, show_pair_mask):
    # One pair as the loss sees it: green tokens are in the log-ratio, everything else (the task prompt, the
    # observations between actions, turns flagged loss: false) is masked.
    tokenizer = load_tokenizer(cfg.model.name_or_path)
    example = load_pair_source(cfg.pairs.train[0], cfg.pairs.level, cfg.pairs.seed)[0] if cfg.pairs.train else None
    if example is None:
        view = mo.md("No `pairs.train` source: the round below builds the pairs.")
    else:
        row = encode_pair(example, tokenizer).row()
        counts = {s: (sum(row[f"{s}_completion_mask"]), len(row[f"{s}_input_ids"])) for s in ("chosen", "rejected")}
        view = mo.vstack([
            mo.md("### What the log-ratio sees\n" + ", ".join(
                f"{s}: {n} of {total} tokens trained" for s, (n, total) in counts.items())),
            mo.md("**chosen**"), mo.Html(show_pair_mask(row, tokenizer, "chosen", fmt="html")),
            mo.md("**rejected**"), mo.Html(show_pair_mask(row, tokenizer, "rejected", fmt="html")),
        ])
    view
    return


@app.cell
def _(build_dpo_trainer, cfg, debug, do_round, dpo_round, evaluate, mo, run, shows_html, train,
      use_plain_progress):
    # In marimo, wait for the button; in Jupyter/Colab (exported) and in script mode, running the cell trains.
    mo.stop(mo.running_in_notebook() and not (run.value or debug), mo.md("Press **Train** to start."))
    if do_round:
        round_result = dpo_round(cfg, evaluate)
        print(f"explored: success {round_result.explore_success_rate:.3f}; {round_result.pairs} pairs "
              f"in {round_result.pairs_file}")
        result = round_result.dpo
        notice = None
    else:
        setup = build_dpo_trainer(cfg)
        if not shows_html():
            use_plain_progress(setup.trainer)
        notice = setup.notice
        result = train(setup, cfg)
        print(setup.data.summary())
    if result is None:
        summary = "Nothing trained: no failed episode to pair."
    elif result.already_finished:
        summary = f"Nothing trained: {notice or 'the run had finished'}"
    else:
        resumed = f" (resumed from `{result.resumed_from}`)" if result.resumed_from else ""
        summary = f"Trained {result.global_step} steps{resumed}; adapter saved to `{result.adapter_dir}`."
    print(summary)
    mo.vstack([mo.callout(mo.md(notice), kind="warn") if notice else mo.md(""), mo.md(summary)])
    return (result,)


@app.cell
def _(mo, result, stop):
    import matplotlib.pyplot as plt

    # mo.stop in marimo; in Jupyter/Colab the message, and no figure.
    _view = mo.md("")
    if not stop(result is None, "No training curves: nothing was trained."):
        panels = [("loss", ["loss"]), ("reward margin", ["rewards/margins"]),
                  ("reward accuracy", ["rewards/accuracies"]), ("implicit rewards", ["rewards/chosen", "rewards/rejected"])]
        fig, axes = plt.subplots(1, 4, figsize=(14, 3))
        for ax, (title, keys) in zip(axes, panels, strict=True):
            for key in keys:
                points = [(e["step"], e[key]) for e in result.log_history if key in e]
                if points:
                    ax.plot(*zip(*points, strict=True), label=key)
            ax.set_title(title)
            ax.set_xlabel("step")
            if len(keys) > 1:
                ax.legend(fontsize=7)
        fig.tight_layout()
        _view = mo.vstack([mo.md("### Training curves"), fig])
    _view
    return


if __name__ == "__main__":
    app.run()
