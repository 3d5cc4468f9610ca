"""Receivers of the SMT backend: none; contracts dispatches its own backend's contracts to plugin.SmtBackend."""
