"""Training-free selectors: the eight zero-cost proxies (one-cell and packed many-cell passes, their
disk cache) and Eproxy / Eproxy with Discrete Proxy Search."""
