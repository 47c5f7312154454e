"""Experiments that decide: Optuna sweeps on agent success (`sweep`), ablations under one protocol
(`ablate`), and one JSON interface (`spec`: `abtune run --spec task.json` -> result.json). Each trial trains
a run config and scores it with our harnesses (`trials`); winners are named on a held-out test split after a
multi-seed re-evaluation (`ranking`)."""
