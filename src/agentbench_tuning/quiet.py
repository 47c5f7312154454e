"""Filters for known, harmless warnings of optional dependencies, installed when the package is imported
(before bitsandbytes or peft load), so a user never reads them as errors."""

from __future__ import annotations

import logging


class KernelsProbeFilter(logging.Filter):
    """bitsandbytes (0.50, `backends/cpu/ops.py`) tries the optional `kernels` package for a faster CPU 4-bit
    matmul on import and logs a warning when it is not installed, then uses its own kernel. Only that
    not-installed case is dropped; a `kernels` that is installed but fails still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Failed to load CPU gemm_4bit_forward"):
            return True
        error = record.args[0] if isinstance(record.args, tuple) and record.args else None
        return not (isinstance(error, ModuleNotFoundError) and error.name == "kernels")


def quiet_optional_kernels_probe() -> None:
    """Install the filter above (idempotent); must run before bitsandbytes is first imported."""
    bnb_logger = logging.getLogger("bitsandbytes.backends.cpu.ops")
    if not any(isinstance(f, KernelsProbeFilter) for f in bnb_logger.filters):
        bnb_logger.addFilter(KernelsProbeFilter())
