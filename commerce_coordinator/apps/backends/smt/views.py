"""Inbound HTTP of the SMT backend: none yet."""
