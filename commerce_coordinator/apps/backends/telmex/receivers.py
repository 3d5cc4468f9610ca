"""Receivers of the TELMEX backend: none; contracts dispatches its own backend's contracts to plugin.TelmexBackend."""
