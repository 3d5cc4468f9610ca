"""Celery tasks of the SMT backend: none (its calls run as contracts' durable backend-call tasks)."""
