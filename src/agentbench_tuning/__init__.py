"""AgentBench Tuning: fine-tune Qwen models for AgentBench ALFWorld and DB Bench."""

from agentbench_tuning.quiet import quiet_optional_kernels_probe

__version__ = "0.1.0"

quiet_optional_kernels_probe()  # before any module of ours can import bitsandbytes
