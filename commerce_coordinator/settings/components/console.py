"""The operator console (apps/console) and static files."""

# whitenoise serves static files from the apps' static/ folders when no collectstatic has run (local, tests);
# production serves STATIC_ROOT (collectstatic) with hashed names (settings/production.py).
WHITENOISE_USE_FINDERS = True
# Seconds between refreshes of a console page whose work is still moving (htmx polling).
CONSOLE_POLL_SECONDS = 2
