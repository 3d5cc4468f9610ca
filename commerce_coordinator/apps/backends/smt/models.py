"""Models of the SMT backend: none; what it keeps per contract is the contract's backend_data."""
