"""benchmarks/catalogue: see RESULTS.md here for the commands and numbers."""
