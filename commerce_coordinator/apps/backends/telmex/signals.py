"""Signals the TELMEX backend sends: none yet (it acts on the contracts app's lifecycle through its plugin)."""
