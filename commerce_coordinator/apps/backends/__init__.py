"""Contract backend plugin apps: one per backend, each importing only core and contracts' plugin API."""
