"""Invoicing makes no outbound HTTP calls: charges go out as charges_requested (routed to payments)."""
