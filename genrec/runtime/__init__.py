"""Shared runtime below train, evaluate and export: the device mesh and its logical-axis rules,
the train state, orbax checkpoints and their meta, and the registry of model families."""
