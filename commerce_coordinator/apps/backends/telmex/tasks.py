"""Celery tasks of the TELMEX backend: none (its calls run as contracts' durable backend-call tasks)."""
