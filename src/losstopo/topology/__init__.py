"""Sub-level-set topology of landscapes: merge trees, persistence, summaries."""
