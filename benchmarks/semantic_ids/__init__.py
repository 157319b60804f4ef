"""benchmarks/semantic_ids: see RESULTS.md here for the commands and numbers."""
