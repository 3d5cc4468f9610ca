"""Stand-ins for the invoicing app's dunning signals (same arguments), so these tests import nothing of it."""

from commerce_coordinator.apps.core.signals import CoordinatorSignal

account_overdue = CoordinatorSignal({"account": dict, "level": str, "invoice": dict, "days_overdue": int})
account_cleared = CoordinatorSignal({"account": dict})

HERE = "commerce_coordinator.apps.contracts.tests.fake_invoicing"
RECEIVERS = "commerce_coordinator.apps.contracts.receivers"
ROUTES = {
    f"{HERE}.account_overdue": [f"{RECEIVERS}.suspend_overdue_account"],
    f"{HERE}.account_cleared": [f"{RECEIVERS}.resume_cleared_account"],
}


def overdue(user: int, level: str = "blocked", days: int = 30):
    account = {"account_id": 100 + user, "lms_user_id": user}
    return account_overdue.send(
        "test",
        account=account,
        level=level,
        invoice={"number": "INV-1", "account_id": 100 + user, "status": "open"},
        days_overdue=days,
    )


def cleared(user: int):
    return account_cleared.send("test", account={"account_id": 100 + user, "lms_user_id": user})
