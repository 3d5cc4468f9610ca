"""Admin of the SMT backend: nothing of its own (contracts' admin shows its contracts and calls)."""
