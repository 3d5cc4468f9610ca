"""The demo gateway has no tasks: it only answers the providers' charge APIs (views.py)."""
