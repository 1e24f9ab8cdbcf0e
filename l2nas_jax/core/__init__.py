"""Small utilities every layer may use: atomic file writes, provenance, CPU device set-up, Pareto maths."""
