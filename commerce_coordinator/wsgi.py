"""WSGI entry point. It refuses to start when the configuration checks find an error."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_coordinator.settings.production")

application = get_wsgi_application()

from commerce_coordinator.apps.core.checks import refuse_to_start_on_errors  # noqa: E402

refuse_to_start_on_errors()
