"""Training: SFT (`sft`), merging for serving (`export`); `runtime` holds what every method shares.

Importing this package installs the filter for bitsandbytes' `kernels` probe warning (see
`runtime.quiet_optional_kernels_probe`), so it is in place before peft/bitsandbytes load.
"""

from agentbench_tuning.training.runtime import quiet_optional_kernels_probe

quiet_optional_kernels_probe()
