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


@checks.register("commerce_coordinator")
def check_charge_credentials(app_configs=None, **kwargs):
    """Charging a saved method needs the provider's API credentials: refuse to start without them (local and
    test settings give the demo gateway's)."""
    enabled = getattr(settings, "PAYMENTS_CHARGE_PROVIDERS", [])
    messages = []
    if "stripe" in enabled and not str(getattr(settings, "STRIPE_API_KEY", "") or "").strip():
        messages.append(
            checks.Error(
                "STRIPE_API_KEY is empty, yet PAYMENTS_CHARGE_PROVIDERS charges saved payment methods through "
                "Stripe: every invoice charge would be refused (401) and dead-lettered.",
                hint="Set STRIPE_API_KEY (a secret key sk_live_... / rk_live_...) in the environment or the "
                "COMMERCE_COORDINATOR_CFG file, or remove 'stripe' from PAYMENTS_CHARGE_PROVIDERS.",
                obj="STRIPE_API_KEY",
                id="payments.E004",
            )
        )
    if "cloudpayments" in enabled:
        missing = [name for name, value in (
            ("CLOUDPAYMENTS_PUBLIC_ID", getattr(settings, "CLOUDPAYMENTS_PUBLIC_ID", "")),
            ("CLOUDPAYMENTS_API_SECRET", "".join(getattr(settings, "CLOUDPAYMENTS_API_SECRETS", []) or [])),
        ) if not str(value or "").strip()]  # fmt: skip
        if missing:
            messages.append(
                checks.Error(
                    f"{' and '.join(missing)} empty, yet PAYMENTS_CHARGE_PROVIDERS charges saved payment methods "
                    "through CloudPayments (HTTP Basic: Public ID and API secret).",
                    hint="Set them from the CloudPayments site's settings, or remove 'cloudpayments' from "
                    "PAYMENTS_CHARGE_PROVIDERS.",
                    obj=missing[0],
                    id="payments.E005",
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


@checks.register("commerce_coordinator")
def check_charge_chunks(app_configs=None, **kwargs):
    """The charges' rate limit must parse (it is read on every provider call), and a chunk must hold an attempt."""
    from .ratelimit import per_second

    messages = []
    try:
        per_second(getattr(settings, "PAYMENTS_CHARGE_RATE_LIMIT", None))
    except ValueError as exc:
        messages.append(
            checks.Error(
                str(exc), hint="Use Celery's notation: '100/s', '6000/m', '50' (per second).", id="payments.E006"
            )
        )
    for name in ("PAYMENTS_CHARGE_CHUNK_SIZE", "PAYMENTS_CHARGE_CALL_THREADS"):
        if int(getattr(settings, name, 1)) < 1:
            messages.append(checks.Error(f"{name} must be at least 1.", id="payments.E007"))
    return messages
