"""The demo gateway has no receivers: it only answers the providers' charge APIs (views.py)."""
