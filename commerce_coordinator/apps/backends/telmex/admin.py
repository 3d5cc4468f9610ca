"""Admin of the TELMEX backend: nothing of its own (contracts' admin shows its contracts and calls)."""
