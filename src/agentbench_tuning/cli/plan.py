"""`abtune plan`: will a run fit on a GPU, and with which batch size and sequence length."""

from __future__ import annotations

from pathlib import Path

import typer

from agentbench_tuning.cli.app import app, console, friendly


@app.command(context_settings={"allow_extra_args": True},
             epilog="Examples: abtune plan --config configs/qwen2.5-7b_l4.yaml --gpu l4\n\n"
                    "abtune plan --model Qwen/Qwen3-4B-Instruct-2507 --gpu t4 --finetune qlora --seq-len 8192 "
                    "--method grpo --recommend")
@friendly
def plan(
    ctx: typer.Context,
    config: Path = typer.Option(None, "--config", "-c", help="An SFT YAML (key=value overrides follow)."),
    gpu: str | None = typer.Option(None, "--gpu", help="t4 | l4 | a100-40gb | a100-80gb | h100 | h200 (default: this one)."),
    model: str = typer.Option(None, "--model", help="Without --config: Qwen/Qwen2.5-7B-Instruct, "
                              "Qwen/Qwen3-4B-Instruct-2507, tiny:<family> or a local folder."),
    method: str = typer.Option("sft", "--method", help="sft | dpo | grpo"),
    finetune: str = typer.Option("lora", "--finetune", help="full | lora | qlora"),
    seq_len: int = typer.Option(8192, "--seq-len", help="Tokens per sequence."),
    batch_size: int = typer.Option(1, "--batch-size", help="Sequences per device per step."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (fp16 on a T4, else bf16) | bf16 | fp16 | fp32"),
    gradient_checkpointing: bool = typer.Option(True, "--gradient-checkpointing/--no-gradient-checkpointing"),
    recommend_settings: bool = typer.Option(False, "--recommend", help="Also print settings that fit."),
) -> None:
    """Predict peak GPU memory (weights, adapter, optimizer, gradients, activations, loss head, vLLM share)."""
    from agentbench_tuning.config import load_config
    from agentbench_tuning.plan import PlanRequest, format_plan, plan_memory, recommend, sft_plan_request
    from agentbench_tuning.plan_shapes import detect_gpu, model_shape

    chosen = gpu or detect_gpu()
    if chosen is None:
        raise ValueError("no GPU here: name one with --gpu (t4, l4, a100-40gb, a100-80gb, h100, h200)")
    gpu = chosen
    if config is not None:
        request = sft_plan_request(load_config(config, "sft", ctx.args), gpu)
    elif model:
        dtype = dtype if dtype != "auto" else ("fp16" if gpu == "t4" else "bf16")
        request = PlanRequest(model=model_shape(model), gpu=gpu, method=method, finetune=finetune, dtype=dtype,
                              seq_len=seq_len, batch_size=batch_size, gradient_checkpointing=gradient_checkpointing)
    else:
        raise ValueError("abtune plan needs --config FILE.yaml or --model NAME")
    result = plan_memory(request)
    console.print(format_plan(result), highlight=False)
    if recommend_settings or not result.fits:
        console.print(recommend(request).summary(), highlight=False)
    raise typer.Exit(0 if result.fits else 1)
