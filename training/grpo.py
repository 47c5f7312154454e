# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning[qlora,track]", "marimo>=0.25"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""Multi-turn GRPO (LoRA / QLoRA) on whole DB Bench or ALFWorld episodes, rewarded by the benchmark graders.

Interactive: `marimo edit training/grpo.py`. Script: `python training/grpo.py --config configs/grpo_debug.yaml`,
which trains exactly what the YAML says; `--section.key value` overrides one field (`--train.max_steps 2`,
`--tasks.benchmark dbbench`), `--debug` = the CPU demo config with 2 steps. Shows the reward, KL, length,
valid-action and logprob-gap curves and sample episodes with the trained tokens highlighted (green: model
tokens in the loss; grey: prompt and environment tokens). Colab: `scripts/export_to_ipynb.sh` makes the ipynb.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from agentbench_tuning.chat import show_mask
    from agentbench_tuning.config import config_to_dict, load_config
    from agentbench_tuning.notebooks import changed_overrides, cli_args, config_overrides, output_on_drive, shows_html
    from agentbench_tuning.presets import list_presets, resolve_config
    from agentbench_tuning.training.grpo import build_grpo_trainer, train
    from agentbench_tuning.training.grpo_rollout import episode_segments, segment_encoded
    from agentbench_tuning.training.runtime import use_plain_progress

    return (
        build_grpo_trainer,
        changed_overrides,
        cli_args,
        config_overrides,
        config_to_dict,
        episode_segments,
        list_presets,
        load_config,
        mo,
        output_on_drive,
        resolve_config,
        segment_encoded,
        show_mask,
        shows_html,
        train,
        use_plain_progress,
    )


@app.cell
def _(cli_args, config_overrides, list_presets, mo):
    args = cli_args()
    debug = "debug" in args
    debug_overrides = ["train.max_steps=2", "train.output_dir=runs/notebook_grpo_debug"]
    arg_overrides = (debug_overrides if debug else []) + config_overrides(
        args, own=("config", "debug", "no-drive"),
        shorthands={"max_steps": "train.max_steps", "output_dir": "train.output_dir"})
    # The shipped presets (packaged with the toolkit, so Colab has them too) or a YAML of your own.
    presets = [p for p in list_presets() if p.startswith("configs/grpo_")]
    default = str(args.get("config") or "configs/grpo_debug.yaml")
    config_path = mo.ui.dropdown(options=sorted({*presets, default}), value=default, label="run config")
    config_path
    return arg_overrides, args, config_path, debug, default


@app.cell
def _(arg_overrides, args, config_path, default, load_config, mo, output_on_drive, resolve_config):
    # The widgets start at the chosen config's values, so leaving them alone trains what the YAML says.
    config_file = resolve_config(config_path.value or default)
    base_cfg = load_config(config_file, "grpo", arg_overrides)
    # Colab only (elsewhere nothing changes): output_dir moves to Google Drive, so checkpoints outlive the VM and
    # running the notebook again with the same arguments resumes. `--no-drive` keeps it on the VM.
    run_dir = output_on_drive(base_cfg.train.output_dir, args)
    max_steps = mo.ui.number(start=1, stop=100000, value=max(base_cfg.train.max_steps, 1), label="max_steps")
    benchmark = mo.ui.dropdown(options=["dbbench", "alfworld-sim", "alfworld-engine"],
                               value=base_cfg.tasks.benchmark, label="benchmark")
    output_dir = mo.ui.text(value=run_dir, label="output_dir", full_width=True)
    run = mo.ui.run_button(label="Train")
    mo.vstack([mo.md("## Multi-turn GRPO"), benchmark, max_steps, output_dir, run])
    return base_cfg, benchmark, config_file, max_steps, output_dir, run


@app.cell
def _(arg_overrides, base_cfg, benchmark, changed_overrides, config_file, config_to_dict, load_config,
      max_steps, mo, output_dir):
    widget_overrides = changed_overrides(base_cfg, {"train.max_steps": max_steps.value,
                                                    "tasks.benchmark": benchmark.value,
                                                    "train.output_dir": output_dir.value})
    cfg = load_config(config_file, "grpo", arg_overrides + widget_overrides)
    mo.ui.table([{"key": f"{section}.{k}", "value": str(v)} for section, values in config_to_dict(cfg).items()
                 for k, v in values.items()], selection=None, label="resolved config")
    return (cfg,)


@app.cell
def _(build_grpo_trainer, cfg, debug, mo, run, shows_html, train, use_plain_progress):
    # In marimo, wait for the button; in Jupyter/Colab (exported) and in script mode, running the cell trains.
    mo.stop(mo.running_in_notebook() and not (run.value or debug), mo.md("Press **Train** to start."))
    setup = build_grpo_trainer(cfg)
    if not shows_html():
        use_plain_progress(setup.trainer)
    result = train(setup, cfg)
    if result.already_finished:
        summary = f"Nothing trained: {setup.notice}"
    else:
        resumed = f" (resumed from `{result.resumed_from}`)" if result.resumed_from else ""
        summary = f"Trained {result.global_step} steps{resumed}; adapter saved to `{result.adapter_dir}`."
    print(summary)
    mo.vstack([mo.callout(mo.md(setup.notice), kind="warn") if setup.notice else mo.md(""), mo.md(summary)])
    return result, setup


@app.cell
def _(mo, result):
    import matplotlib.pyplot as plt

    panels = [("reward", "reward (weighted sum)"), ("kl", "KL to the base (beta > 0)"),
              ("completions/mean_length", "model tokens per episode"),
              ("episodes/valid_action_fraction", "valid-action fraction"),
              ("logprob_gap/max", "max |rollout - trainer| logprob"), ("episodes/success", "episode success")]
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5))
    for ax, (key, title) in zip(axes.flat, panels, strict=True):
        values = result.curve(key)
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=3)
        ax.set_title(title if values else f"{title}: not logged", fontsize=9)
        ax.set_xlabel("logging step", fontsize=8)
    fig.tight_layout()
    mo.vstack([mo.md("### Curves"), fig])
    return


@app.cell
def _(episode_segments, mo, segment_encoded, setup, show_mask, shows_html):
    # The last step's episodes: every row the loss trained (one per episode for append-only histories,
    # one per model turn for ALFWorld), green = model tokens in the loss.
    tokenizer = setup.trainer.processing_class
    shown = []
    for trajectory in setup.rollout.last[:2]:
        segments = episode_segments(trajectory)
        header = (f"**episode {trajectory.index}**: status `{trajectory.status}`, reward {trajectory.reward}, "
                  f"{len(trajectory.turns)} model turns, {len(segments)} training rows")
        shown.append(mo.md(header))
        for segment in segments[-2:]:
            encoded = segment_encoded(segment)
            if shows_html():
                shown.append(mo.Html(show_mask(encoded, tokenizer, fmt="html")))
            else:
                print(show_mask(encoded, tokenizer, fmt="plain")[-1500:])
    mo.vstack([mo.md("### Sample episodes (last rows of each)"), *shown])
    return


if __name__ == "__main__":
    app.run()
