"""Settings shared by every environment; the others import * from here and override."""

import os
from pathlib import Path

from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("CC_VAR_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-dev-only-secret-key")  # production refuses it
DEBUG = False
ALLOWED_HOSTS: list[str] = ["localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: its runserver (staticfiles' own, plus the embedded worker, ADR 22) wins.
    "commerce_coordinator.apps.core",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "waffle",
    "commerce_coordinator.apps.demo_lms",
    "commerce_coordinator.apps.payments",
    "commerce_coordinator.apps.lms",
    "commerce_coordinator.apps.invoicing",
    "commerce_coordinator.apps.demo_gateway",
    "commerce_coordinator.apps.bus",
    "commerce_coordinator.apps.subscriptions",
    "commerce_coordinator.apps.contracts",
    "commerce_coordinator.apps.backends.smt",
    "commerce_coordinator.apps.backends.telmex",
    "commerce_coordinator.apps.console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files (the console's CSS/JS) in every environment
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "waffle.middleware.WaffleMiddleware",
]

ROOT_URLCONF = "commerce_coordinator.urls"
WSGI_APPLICATION = "commerce_coordinator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_settings(name_env: str, default_name: str) -> dict:
    """One DATABASES entry from the environment: SQLite file by default, MySQL/MariaDB when DB_ENGINE=mysql."""
    if os.environ.get("DB_ENGINE", "sqlite") == "mysql":
        return {
            "ENGINE": "commerce_coordinator.apps.core.mysql",  # Django's, START TRANSACTION (ADR 75)
            "NAME": os.environ.get(name_env, default_name),
            "USER": os.environ.get("DB_USER", "root"),
            "PASSWORD": os.environ.get("DB_PASSWORD", ""),
            "HOST": os.environ.get("DB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("DB_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4", "init_command": "SET sql_mode='STRICT_TRANS_TABLES'"},
            "CONN_MAX_AGE": 60,
            # A kept connection (requests within CONN_MAX_AGE, worker tasks with CELERY_DB_REUSE_MAX) is pinged
            # before its first use in a request or task, and reopened if the server dropped it.
            "CONN_HEALTH_CHECKS": True,
            "TEST": {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get(name_env, str(VAR_DIR / f"{default_name}.sqlite3")),
        "OPTIONS": {"timeout": 20},
    }


# Traces live in their own database so that a trace survives the rollback of the
# work it traced, and never contends with business writes (docs/decisions/0003).
DATABASES = {
    "default": database_settings("DB_NAME", "commerce_coordinator"),
    "traces": database_settings("TRACES_DB_NAME", "commerce_coordinator_traces"),
}
DATABASE_ROUTERS = ["commerce_coordinator.apps.core.routers.TraceDatabaseRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "commerce_coordinator.apps.core.authentication.ThrottledBasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "commerce_coordinator.apps.core.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Commerce Coordinator API",
    "DESCRIPTION": 'Order status and fulfillment API. Errors are JSON: {"error": <code>, "detail": <what>}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["commerce_coordinator.apps.core.api_auth.public_api_only"],
    # apps/invoicing: the invoice's states have a name of their own (other APIs have a "state" too).
    "ENUM_NAME_OVERRIDES": {
        "InvoiceStateEnum": "commerce_coordinator.apps.invoicing.models.InvoiceState",
        "SubscriptionStatusEnum": "commerce_coordinator.apps.subscriptions.models.SubscriptionStatus",
        # A charge attempt's and a refund's status: the same choices (requested, succeeded, failed).
        "ChargeOrRefundStatusEnum": "commerce_coordinator.apps.invoicing.models.InvoiceRefund.Status",
    },
}

# --- Per-app settings -----------------------------------------------------------
# Each app's block lives in its own module under settings/components/; CC_SIGNALS (the wiring of
# every app) stays here, in one visible place.
from .components.bus import *  # noqa: E402,F403
from .components.celery_settings import *  # noqa: E402,F403
from .components.console import *  # noqa: E402,F403
from .components.contracts import *  # noqa: E402,F403
from .components.core import *  # noqa: E402,F403
from .components.demo_gateway import *  # noqa: E402,F403
from .components.durable import *  # noqa: E402,F403
from .components.durable import CC_DURABLE_SWEEP_INTERVAL  # noqa: E402
from .components.invoicing import *  # noqa: E402,F403
from .components.invoicing import INVOICING_BEAT_TIMES  # noqa: E402
from .components.lms import *  # noqa: E402,F403
from .components.payments import *  # noqa: E402,F403
from .components.payments_charges import *  # noqa: E402,F403
from .components.payments_refunds import *  # noqa: E402,F403
from .components.subscriptions import *  # noqa: E402,F403
from .components.subscriptions import SUBSCRIPTIONS_SWEEP_INTERVAL  # noqa: E402
from .components.traces import *  # noqa: E402,F403

# --- Coordinator signals -----------------------------------------------------
# Signal dotted path -> receivers. An entry is a dotted path, or a dict:
#   {"receiver": "<dotted path>", "switch": "<waffle switch>", "queue": "<celery queue>"}
# A receiver that is a Celery task is enqueued on commit; any other runs in process.
CC_SIGNALS: dict = {
    "commerce_coordinator.apps.demo_lms.signals.test_signal": [
        "commerce_coordinator.apps.demo_lms.receivers.test_receiver",
        "commerce_coordinator.apps.demo_lms.receivers.test_receiver_exception",
    ],
    "commerce_coordinator.apps.demo_lms.signals.test_celery_signal": [
        "commerce_coordinator.apps.demo_lms.tasks.demo_celery_receiver",
    ],
    "commerce_coordinator.apps.demo_lms.signals.purchase_complete": [
        "commerce_coordinator.apps.demo_lms.receivers.demo_purchase_complete_order_history",
        {
            "receiver": "commerce_coordinator.apps.demo_lms.receivers.demo_purchase_complete_send_confirmation_email",
            "switch": "demo_lms.send_confirmation_email",
        },
        "commerce_coordinator.apps.demo_lms.receivers.demo_purchase_complete_enroll_in_course",
    ],
    "commerce_coordinator.apps.demo_lms.signals.enroll_learner": [
        "commerce_coordinator.apps.demo_lms.receivers.demo_enroll_learner_in_course",
    ],
    # Payments: a log line for every payment event; the LMS fulfils paid orders and unenrolls refunded ones.
    "commerce_coordinator.apps.payments.signals.payment_succeeded": [
        "commerce_coordinator.apps.payments.receivers.log_payment_event",
        "commerce_coordinator.apps.lms.receivers.fulfill_paid_order",
    ],
    "commerce_coordinator.apps.payments.signals.payment_failed": [
        "commerce_coordinator.apps.payments.receivers.log_payment_event",
    ],
    "commerce_coordinator.apps.payments.signals.payment_refunded": [
        "commerce_coordinator.apps.payments.receivers.log_payment_event",
        "commerce_coordinator.apps.lms.receivers.unenroll_refunded_order",
    ],
    # Payments: CloudPayments' recurrent notifications; the subscriptions app will receive them.
    "commerce_coordinator.apps.payments.signals.subscription_changed": [
        "commerce_coordinator.apps.payments.receivers.log_subscription_event",
        # subscriptions: reconcile the local subscription with CloudPayments' recurrent status (ADR 0061).
        "commerce_coordinator.apps.subscriptions.receivers.reconcile_provider_subscription",
    ],
    "commerce_coordinator.apps.lms.signals.fulfillment_completed": [
        "commerce_coordinator.apps.lms.receivers.log_fulfillment_completed",
    ],
    "commerce_coordinator.apps.lms.signals.fulfillment_failed": [
        "commerce_coordinator.apps.lms.receivers.log_fulfillment_failed",
    ],
    # Invoicing: finalized invoices are charged through payments (a page's requests in one send, ADR 0034; a durable
    # attempt per idempotency key); the answer comes back to invoicing, which notifies the owner and runs dunning.
    "commerce_coordinator.apps.invoicing.signals.charges_requested": [
        "commerce_coordinator.apps.payments.charges.request_charges",
    ],
    "commerce_coordinator.apps.payments.signals.charge_succeeded": [
        "commerce_coordinator.apps.payments.charges.record_confirmation",  # a dead-lettered attempt confirmed
        "commerce_coordinator.apps.invoicing.receivers.record_charge_succeeded",
    ],
    "commerce_coordinator.apps.payments.signals.charge_failed": [
        "commerce_coordinator.apps.invoicing.receivers.record_charge_failed",
    ],
    # A chunk's answers together (ADR 0035): invoicing records them with grouped statements in one transaction.
    "commerce_coordinator.apps.payments.signals.charges_answered": [
        "commerce_coordinator.apps.invoicing.receivers.record_charge_answers",
    ],
    # Refunds of paid invoices (ADR 63): invoicing asks payments (a durable refund per idempotency key), which
    # calls the provider's refund API and answers; invoicing records the answer on the invoice.
    "commerce_coordinator.apps.invoicing.signals.refund_requested": [
        "commerce_coordinator.apps.payments.refunds.request_refund",
    ],
    "commerce_coordinator.apps.payments.signals.refund_succeeded": [
        "commerce_coordinator.apps.invoicing.receivers.record_refund_succeeded",
    ],
    "commerce_coordinator.apps.payments.signals.refund_failed": [
        "commerce_coordinator.apps.invoicing.receivers.record_refund_failed",
    ],
    "commerce_coordinator.apps.invoicing.signals.credit_card_error": [
        "commerce_coordinator.apps.subscriptions.receivers.record_invoice_failed",
        {
            "receiver": "commerce_coordinator.apps.invoicing.receivers.email_credit_card_error",
            "switch": "invoicing.email_credit_card_error",
        },
    ],
    "commerce_coordinator.apps.invoicing.signals.invoice_sent": [
        "commerce_coordinator.apps.subscriptions.receivers.record_invoice_paid",
        {
            "receiver": "commerce_coordinator.apps.invoicing.receivers.email_invoice_sent",
            "switch": "invoicing.email_invoice_sent",
        },
    ],
    # Dunning suspends (at CONTRACTS_SUSPEND_AT_LEVELS) and resumes the account's contracts.
    "commerce_coordinator.apps.invoicing.signals.account_overdue": [
        "commerce_coordinator.apps.subscriptions.receivers.suspend_on_overdue",
        "commerce_coordinator.apps.invoicing.receivers.log_account_overdue",
        "commerce_coordinator.apps.contracts.receivers.suspend_overdue_account",
        {
            "receiver": "commerce_coordinator.apps.invoicing.receivers.email_account_overdue",
            "switch": "invoicing.email_account_overdue",
        },
    ],
    # The admin panel's billing commands (apps/bus, CC_BUS_COMMANDS), in the consumer's transaction.
    "commerce_coordinator.apps.invoicing.signals.invoice_issue_requested": [
        "commerce_coordinator.apps.invoicing.receivers.issue_invoice_from_bus",
    ],
    "commerce_coordinator.apps.invoicing.signals.invoice_cancel_requested": [
        "commerce_coordinator.apps.invoicing.receivers.cancel_invoice_from_bus",
    ],
    "commerce_coordinator.apps.invoicing.signals.invoice_refund_requested": [
        "commerce_coordinator.apps.invoicing.receivers.refund_invoice_from_bus",
    ],
    "commerce_coordinator.apps.invoicing.signals.account_cleared": [
        "commerce_coordinator.apps.subscriptions.receivers.resume_on_cleared",
        "commerce_coordinator.apps.invoicing.receivers.log_account_cleared",
        "commerce_coordinator.apps.contracts.receivers.resume_cleared_account",
    ],
    # Subscriptions (ADR 0061): periods billed through invoicing (subscription_periods_due -> the create/dispatch
    # machinery), invoicing's payment outcomes and dunning move the subscriptions, lifecycle signals are logged
    # (and end the subscription's product), reminders are e-mailed by invoicing, which keeps the owner's address.
    "commerce_coordinator.apps.subscriptions.signals.subscription_periods_due": [
        "commerce_coordinator.apps.invoicing.subscription_billing.bill_subscription_periods",
    ],
    **{
        f"commerce_coordinator.apps.subscriptions.signals.subscription_{name}": [
            "commerce_coordinator.apps.subscriptions.receivers.log_lifecycle",
            *(
                ["commerce_coordinator.apps.invoicing.subscription_billing.stop_subscription_product"]
                if name in ("ending", "canceled", "expired")
                else []
            ),
        ]
        for name in ("activated", "past_due", "suspended", "resumed", "ending", "canceled", "expired")
    },
    "commerce_coordinator.apps.subscriptions.signals.renewal_reminder_due": [
        {
            "receiver": "commerce_coordinator.apps.invoicing.subscription_billing.email_renewal_reminder",
            "switch": "subscriptions.email_renewal_reminder",
        },
    ],
    "commerce_coordinator.apps.subscriptions.signals.subscribe_requested": [
        "commerce_coordinator.apps.subscriptions.receivers.subscribe_from_bus",
    ],
    # Contracts: the lifecycle. The four signals that ask a backend to act are routed to contracts'
    # dispatch, which calls the plugin of the contract's own backend only (CC_CONTRACT_BACKENDS, ADR 0040).
    "commerce_coordinator.apps.contracts.signals.contract_created": [
        "commerce_coordinator.apps.contracts.receivers.log_contract_change"
    ],
    "commerce_coordinator.apps.contracts.signals.contract_activating": [
        "commerce_coordinator.apps.contracts.receivers.activate_at_backend"
    ],
    "commerce_coordinator.apps.contracts.signals.contract_activated": [
        "commerce_coordinator.apps.contracts.receivers.log_contract_change"
    ],
    "commerce_coordinator.apps.contracts.signals.contract_suspended": [
        "commerce_coordinator.apps.contracts.receivers.suspend_at_backend"
    ],
    "commerce_coordinator.apps.contracts.signals.contract_resumed": [
        "commerce_coordinator.apps.contracts.receivers.resume_at_backend"
    ],
    "commerce_coordinator.apps.contracts.signals.contract_cancelling": [
        "commerce_coordinator.apps.contracts.receivers.cancel_at_backend"
    ],
    "commerce_coordinator.apps.contracts.signals.contract_cancelled": [
        "commerce_coordinator.apps.contracts.receivers.log_contract_change"
    ],
    "commerce_coordinator.apps.contracts.signals.contract_backend_failed": [
        "commerce_coordinator.apps.contracts.receivers.log_backend_failed"
    ],
}

# --- Admin-panel commands over the bus (apps/bus) ---------------------------------
# Command name (the "command" of a bus message) -> dotted path of the CoordinatorSignal it is sent as;
# the message's other keys are the signal's arguments (docs/bus.md). Billing apps add their entries.
CC_BUS_COMMANDS: dict[str, str] = {
    # apps/invoicing (docs/invoicing.md)
    "issue_invoice": "commerce_coordinator.apps.invoicing.signals.invoice_issue_requested",
    "cancel_invoice": "commerce_coordinator.apps.invoicing.signals.invoice_cancel_requested",
    "refund": "commerce_coordinator.apps.invoicing.signals.invoice_refund_requested",  # ADR 63
    # subscriptions: the admin panel's subscribe (docs/bus.md)
    "subscribe": "commerce_coordinator.apps.subscriptions.signals.subscribe_requested",
}

# Waffle switches that CC_SIGNALS may name, with what each does; provisioning creates them.
CC_WAFFLE_SWITCHES: dict[str, dict] = {
    "demo_lms.send_confirmation_email": {
        "active": True,
        "note": "Send the demo purchase confirmation e-mail.",
    },
    # invoicing: e-mails to the account's owner.
    "invoicing.email_credit_card_error": {"active": True, "note": "E-mail the owner when charging an invoice fails."},
    "invoicing.email_invoice_sent": {"active": True, "note": "E-mail the owner a receipt when an invoice is paid."},
    "invoicing.email_account_overdue": {"active": True, "note": "E-mail the owner at each dunning level."},
    # subscriptions: the renewal reminder e-mail (sent by invoicing, which keeps the owner's address).
    "subscriptions.email_renewal_reminder": {"active": True, "note": "E-mail the owner before a renewal."},
}

# Management commands that `provision_local` runs last to load demo data. Each plugin
# app that has demo data adds its own command here; each is idempotent, prints what
# it did and returns a non-empty summary only when it changed something.
CC_DEMO_DATA_COMMANDS: list[str] = [
    "provision_demo_data",  # demo_lms
    "provision_demo_lms",  # demo_lms: the OAuth client this service uses to call the demo LMS
    "provision_demo_billing",  # invoicing: demo accounts for LMS users 9001-9004 with products
    "provision_demo_subscriptions",  # subscriptions: the demo plans (demo-monthly, ...)
]

# Periodic tasks of every app (Celery beat).
CELERY_BEAT_SCHEDULE = {
    "prune-traces": {"task": "commerce_coordinator.apps.core.tasks.prune_traces", "schedule": 24 * 3600},
    # apps/core: re-enqueue durable work items of every app whose task was lost (ADR 11).
    "core-sweep-durable-work": {"task": "core.sweep_durable_work", "schedule": CC_DURABLE_SWEEP_INTERVAL},
    # apps/lms: order lines are durable work items: core-sweep-durable-work finds their lost tasks (ADR 13).
    # apps/payments: webhook events are durable work items, recovered by core-sweep-durable-work (the old
    # payments-sweep-webhook-events entry is gone; its task still exists, ADR 0015). Retention, like traces':
    "payments-prune-webhook-events": {
        "task": "commerce_coordinator.apps.payments.tasks.prune_webhook_events",
        "schedule": 24 * 3600,
    },
    # apps/invoicing: the billing jobs, daily (each is idempotent: a run with nothing to do changes nothing).
    # Order within a day: restore quotas, dispatch (bills last period's extras), reset capacity, create next.
    **{
        f"invoicing-{job.replace('_', '-')}": {
            "task": f"invoicing.{job}",
            "schedule": crontab(hour=hour, minute=minute),
        }
        for job, (hour, minute) in INVOICING_BEAT_TIMES.items()
    },
    # apps/subscriptions: renew what is due, then remind (each run catches up on a missed one).
    "subscriptions-renew-due": {"task": "subscriptions.renew_due", "schedule": SUBSCRIPTIONS_SWEEP_INTERVAL},
    "subscriptions-send-reminders": {"task": "subscriptions.send_reminders", "schedule": SUBSCRIPTIONS_SWEEP_INTERVAL},
}

# Demo endpoints are mounted when DEBUG is on or this is true.
CC_DEMO_ENDPOINTS_ENABLED = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "trace_id": {"()": "commerce_coordinator.apps.core.trace_logging.TraceIdFilter"},
        # No e-mail address, card number or secret in clear in any app's logs (issue 9, item 9).
        "redact": {"()": "commerce_coordinator.apps.core.redaction.RedactingFilter"},
    },
    "formatters": {
        "standard": {"format": "%(asctime)s %(levelname)s [trace=%(trace_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "standard", "filters": ["trace_id", "redact"]},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": "INFO"},
    },
}
