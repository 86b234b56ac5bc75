"""Tabular benchmarks: true accuracy by (dataset, fidelity, metric). Never imports torch."""
