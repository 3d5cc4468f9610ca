"""Outbound HTTP of the subscriptions app: none (billing goes through invoicing's signals, ADR 0061)."""
