"""Inbound HTTP of the TELMEX backend: none yet."""
