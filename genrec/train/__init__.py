"""Sharded training: mesh + logical-axis rules, jitted steps, optax, orbax checkpoints, the loop."""
