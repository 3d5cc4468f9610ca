"""Signals the SMT backend sends: none yet (it acts on the contracts app's lifecycle through its plugin)."""
