"""Rendering of results: terminal/Markdown tables, plots, Pareto fronts, op-frequency heatmaps."""
