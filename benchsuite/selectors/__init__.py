"""Architecture selectors. Built-ins are registered lazily in ``registry.py``."""
