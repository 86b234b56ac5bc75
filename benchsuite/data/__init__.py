"""Data shipped with or fetched for the package: CIFAR loaders and torch-only transforms for the
selectors that run networks, and ``published.csv``, the published values the leaderboard prints
beside ours (package data, read through ``importlib.resources``)."""
