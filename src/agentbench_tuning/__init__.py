"""AgentBench Tuning: fine-tune Qwen models for AgentBench ALFWorld and DB Bench."""

__version__ = "0.1.0"
