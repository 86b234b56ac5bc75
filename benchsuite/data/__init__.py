"""Image data for selectors that run networks: CIFAR loaders and torch-only transforms."""
