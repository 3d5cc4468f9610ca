"""The demo gateway has no signals: it only answers the providers' charge APIs (views.py)."""
