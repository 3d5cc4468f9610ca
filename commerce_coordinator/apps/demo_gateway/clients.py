"""The demo gateway has no clients: it only answers the providers' charge APIs (views.py)."""
