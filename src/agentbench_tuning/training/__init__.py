"""Training: SFT (`sft`), merging for serving (`export`); `runtime` holds what every method shares."""
