import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from ..checks import check_payment_providers
from ..redaction import redact


def test_redact_hides_emails_cards_and_secrets():
    text = redact("user learner@example.org paid with 4242 4242 4242 4242 (whsec_abc123) order ORD-12")
    assert "learner@example.org" not in text and "4242 4242" not in text and "whsec_abc123" not in text
    assert "[e-mail]" in text and "[card number]" in text and "[secret]" in text and "ORD-12" in text


def test_checks_pass_with_secrets(settings):
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_x"]
    settings.CLOUDPAYMENTS_API_SECRETS = ["cp_x"]
    assert check_payment_providers() == []


def test_checks_report_bad_providers_and_missing_secrets(settings):
    settings.STRIPE_WEBHOOK_SECRETS = []
    settings.CC_PAYMENT_PROVIDERS = {
        **settings.CC_PAYMENT_PROVIDERS,
        "nope": "no.such.Provider",
        "bad": "commerce_coordinator.apps.payments.models.WebhookEvent",
    }
    ids = sorted(m.id for m in check_payment_providers())
    assert ids == ["payments.E001", "payments.E002", "payments.W001"]


def test_manage_py_check_fails_on_a_provider_that_does_not_import(settings):
    settings.CC_PAYMENT_PROVIDERS = {"nope": "no.such.Provider"}
    with pytest.raises(SystemCheckError, match="payments.E001"):
        call_command("check")
