"""Invoicing makes no outbound HTTP calls: charges go out as charge_requested (routed to payments)."""
