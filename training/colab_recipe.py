# /// script
# requires-python = ">=3.11"
# dependencies = ["agentbench-tuning[vllm,qlora,track]", "marimo>=0.25"]
#
# # The toolkit from this checkout (`uv run`, `marimo edit --sandbox`); the Colab export installs it from git.
# [tool.uv.sources]
# agentbench-tuning = { path = "..", editable = true }
# ///
"""Colab recipe, top to bottom: generate our data -> check it against the held-out set -> QLoRA SFT of
Qwen2.5-7B-Instruct or Qwen3-4B-Instruct-2507 (T4 / L4 preset) -> evaluate with vLLM on both benchmarks ->
merge and export for serving (8k prompt budget checked) -> serve with `vllm serve` and score through the
OpenAI-compatible backend, as the competition does.

Colab: `scripts/export_to_ipynb.sh` makes training/colab_recipe.ipynb (its first cell installs the toolkit).
Script: `python training/colab_recipe.py --preset configs/qwen2.5-7b_t4.yaml`; `--debug` runs the whole
recipe on CPU with the tiny random-weight Qwen (a few steps, two tasks per benchmark, transformers engine)
and prints the serving commands instead of starting a server (add `--serve` to start one anyway). Every step
is the `abtune` command shown above its output, so each can be re-run by hand.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from agentbench_tuning.notebooks import cli_args, output_on_drive
    from agentbench_tuning.presets import list_presets

    return cli_args, list_presets, mo, output_on_drive


@app.cell
def _(cli_args, list_presets, mo, output_on_drive):
    import torch

    args = cli_args()
    # Without a GPU (a CPU box, CI) the recipe runs its debug size: the tiny model, a few steps, transformers.
    debug = "debug" in args or not torch.cuda.is_available()
    # The shipped presets (packaged with the toolkit, so they are found in Colab's /content too).
    presets = [p for p in list_presets() if p.startswith("configs/qwen") and p.endswith(("_t4.yaml", "_l4.yaml"))]
    default = "configs/debug.yaml" if debug else str(args.get("preset") or "configs/qwen2.5-7b_t4.yaml")
    preset = mo.ui.dropdown(options=sorted(set(presets + [default])), value=default, label="SFT preset (GPU)")
    # Colab only (elsewhere nothing changes): the run directory moves to Google Drive, so a disconnect loses
    # nothing and running the recipe again resumes its SFT from the last checkpoint. `--no-drive` keeps it local.
    out = output_on_drive(str(args.get("out") or ("runs/recipe_debug" if debug else "runs/recipe")), args)
    sizes = (dict(db=40, alfworld=4, heldout_limit=2, games=1, max_new_tokens=8, engine="transformers",
                  overrides=["train.max_steps=2", "train.save_steps=2", "train.eval_steps=2"])
             if debug else dict(db=600, alfworld=600, heldout_limit=None, games=60, max_new_tokens=512,
                                engine="vllm", overrides=[]))
    serve = not debug or "serve" in args
    mo.vstack([mo.md(f"## Recipe (debug={debug}); run directory `{out}`"), preset])
    return debug, out, preset, serve, sizes


@app.cell
def _(mo):
    import shlex
    import subprocess
    import sys

    def abtune(*argv: str, check: bool = True) -> int:
        """Run one `abtune` command (this interpreter's package), show it and its output."""
        cmd = [sys.executable, "-m", "agentbench_tuning.cli", *map(str, argv)]
        print("$ abtune " + shlex.join(cmd[3:]), flush=True)
        result = subprocess.run(cmd, text=True, capture_output=True)
        print(result.stdout[-3000:], result.stderr[-3000:] if result.returncode else "", flush=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"abtune {argv[0]} {argv[1] if len(argv) > 1 else ''} exited {result.returncode}")
        return result.returncode

    mo.md("Each step below runs one `abtune` command and shows it.")
    return abtune, subprocess, sys


@app.cell
def _(abtune, out, sizes):
    # 1. Our own data: DB Bench tasks (held-out tables never in training) and ALFWorld simulator games.
    abtune("data", "dbbench-gen", "--out", f"{out}/data/db", "--n", sizes["db"], "--seed", "0",
           "--heldout-fraction", "0.2")
    train_sources = [f"{out}/data/db/sft_train.jsonl", f"gen:alfworld:{sizes['alfworld']}"]
    heldout = f"{out}/data/db/heldout.jsonl"
    return heldout, train_sources


@app.cell
def _(abtune, heldout, out, train_sources):
    # 2. The data rule: no training conversation may copy a benchmark item (exit 1 would stop here).
    #    Run it again against the real AgentBench files you evaluate on: --against dev.jsonl or a game folder.
    train_args = [a for src in train_sources for a in ("--train", src)]
    abtune("data", "check-overlap", *train_args, "--against", heldout, "--out", f"{out}/overlap.json")
    return


@app.cell
def _(abtune, out, preset, sizes, train_sources):
    # 3. QLoRA SFT on the chosen preset (debug: the tiny random-weight Qwen for two steps).
    sft_out = f"{out}/sft"
    abtune("sft", "--config", preset.value, f"data.train=[{', '.join(train_sources)}]",
           f"train.output_dir={sft_out}", *sizes["overrides"])
    return (sft_out,)


@app.cell
def _(abtune, sft_out):
    # 4. Merge the adapter into the base model for serving; the summary says whether the chat template and
    #    the end-of-turn stop token were kept.
    merged = f"{sft_out}/merged"
    abtune("export", "--adapter", f"{sft_out}/final", "--out", merged)
    return (merged,)


@app.cell
def _(merged, out, train_sources):
    # 5. The 8k budget: every training conversation, rendered by the merged model's own template, must fit
    #    the 8192-token context the competition serves.
    from agentbench_tuning.chat import context_report, encode_messages
    from agentbench_tuning.models import load_tokenizer
    from agentbench_tuning.training.sft_data import load_sources

    tokenizer = load_tokenizer(merged)
    budget = context_report((encode_messages(c["messages"], tokenizer) for c in load_sources(train_sources)), 8192)
    print(budget.summary())
    return


@app.cell
def _(abtune, heldout, merged, out, sizes):
    # 6. Evaluate with vLLM (debug: transformers) on both benchmarks, greedy as v0.2.
    limit = ["--limit", sizes["heldout_limit"]] if sizes["heldout_limit"] else []
    common = ["--agent", "model", "--model", merged, "--engine", sizes["engine"],
              "--max-new-tokens", sizes["max_new_tokens"]]
    abtune("eval", "dbbench", "--data", heldout, *limit, *common, "--out", f"{out}/eval/dbbench", "--overwrite")
    abtune("eval", "alfworld", "--env", "sim", "--games", sizes["games"], *common, "--out", f"{out}/eval/alfworld",
           "--overwrite")
    abtune("report", f"{out}/eval/dbbench", f"{out}/eval/alfworld", "--out", f"{out}/report")
    return common, limit


@app.cell
def _(abtune, heldout, limit, merged, out, serve, sizes, subprocess, sys):
    # 7. As the competition scores it: `vllm serve` the merged model, then the OpenAI-compatible backend.
    import time
    import urllib.request

    port = 8000
    serve_cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", merged,
                 "--max-model-len", "8192", "--port", str(port)]
    score = ["eval", "dbbench", "--data", heldout, *limit, "--agent", "model", "--model", merged, "--engine",
             "openai", "--base-url", f"http://127.0.0.1:{port}", "--max-new-tokens", sizes["max_new_tokens"],
             "--out", f"{out}/eval/dbbench-served", "--overwrite"]
    if not serve:
        print("debug: not starting a server. On the GPU run:\n  vllm serve", merged, "--max-model-len 8192 --port",
              port, "\n  abtune", " ".join(map(str, score)))
    else:
        server = subprocess.Popen(serve_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 600
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5)
                    break
                except OSError:
                    if server.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"vllm serve did not come up (exit {server.poll()}); run it by hand: "
                                           f"{' '.join(serve_cmd)}") from None
                    time.sleep(5)
            abtune(*score)
        finally:
            server.terminate()
            server.wait(timeout=60)
    return


if __name__ == "__main__":
    app.run()
