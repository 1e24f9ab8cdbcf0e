"""Searcher wrappers that apply to every method alike: free-repeats accounting and Pareto scalarization."""
