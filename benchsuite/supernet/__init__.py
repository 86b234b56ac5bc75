"""The shared NB201 supernet trainer used by every weight-sharing selector (see trainer.py)."""
