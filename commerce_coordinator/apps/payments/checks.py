"""System checks for the payments settings (`manage.py check`; run at web and worker start by the core)."""

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from .providers import PaymentProvider


@checks.register("commerce_coordinator")
def check_payment_providers(app_configs=None, **kwargs):
    messages = []
    providers = getattr(settings, "CC_PAYMENT_PROVIDERS", {})
    for key, path in providers.items():
        label = f"CC_PAYMENT_PROVIDERS[{key!r}]"
        try:
            cls = import_string(path)
        except Exception as exc:
            messages.append(
                checks.Error(
                    f"{label}: {path!r} does not import ({type(exc).__name__}: {exc}).",
                    hint="Fix the dotted path to a PaymentProvider subclass.",
                    obj=label,
                    id="payments.E001",
                )
            )
            continue
        if not (isinstance(cls, type) and issubclass(cls, PaymentProvider)):
            messages.append(
                checks.Error(
                    f"{label}: {path!r} is not a PaymentProvider subclass.",
                    hint="Name a subclass of payments.providers.PaymentProvider.",
                    obj=label,
                    id="payments.E002",
                )
            )
            continue
        secrets = getattr(cls(key), "secrets", None)
        if callable(secrets) and not secrets():
            messages.append(
                checks.Warning(
                    f"{label}: no webhook secret is configured, so every {key} webhook is refused (503).",
                    hint="Set STRIPE_WEBHOOK_SECRET / CLOUDPAYMENTS_API_SECRET in the environment.",
                    obj=label,
                    id="payments.W001",
                )
            )
    if settings.CC_DURABLE_RUNNING_TIMEOUT <= settings.PAYMENTS_TASK_TIME_LIMIT:
        messages.append(
            checks.Error(
                "CC_DURABLE_RUNNING_TIMEOUT must be longer than PAYMENTS_TASK_TIME_LIMIT, or the sweep could "
                "hand a slow but live webhook task's event to a second task.",
                hint="Raise CC_DURABLE_RUNNING_TIMEOUT (or lower PAYMENTS_TASK_TIME_LIMIT).",
                obj="CC_DURABLE_RUNNING_TIMEOUT",
                id="payments.E003",
            )
        )
    for name in DEPRECATED:
        if hasattr(settings, name):
            messages.append(
                checks.Warning(
                    f"{name} is no longer read: webhook events are core durable work items (ADR 0015).",
                    hint=DEPRECATED[name],
                    obj=name,
                    id="payments.W002",
                )
            )
    return messages


DEPRECATED = {
    "PAYMENTS_PROCESSING_TIMEOUT": "Use CC_DURABLE_RUNNING_TIMEOUT.",
    "PAYMENTS_SWEEP_AFTER": "Use CC_DURABLE_STALLED_AFTER.",
    "PAYMENTS_SWEEP_INTERVAL": "Use CC_DURABLE_SWEEP_INTERVAL.",
    "PAYMENTS_MAX_RETRIES": "Use PAYMENTS_RETRY_SCHEDULE (one delay per retry).",
    "PAYMENTS_RETRY_BACKOFF": "Use PAYMENTS_RETRY_SCHEDULE.",
    "PAYMENTS_RETRY_BACKOFF_MAX": "Use PAYMENTS_RETRY_SCHEDULE.",
    "PAYMENTS_REFUND_WAIT_ATTEMPTS": "A refund waits on PAYMENTS_RETRY_SCHEDULE.",
    "PAYMENTS_RELAY": "The relay is the one publish path with a broker.",
}
