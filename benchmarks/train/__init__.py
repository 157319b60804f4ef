"""benchmarks/train: see RESULTS.md here for the commands and numbers."""
