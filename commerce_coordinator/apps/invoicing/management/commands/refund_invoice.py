"""manage.py refund_invoice NUMBER --reason WHY [--amount 10.00] [--actor NAME] [--json]: an operator's refund."""

import getpass
import json
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError

from ... import operations
from ...models import Invoice
from ...refunds import RefundRefused


class Command(BaseCommand):
    help = (
        "Refund a paid invoice through the provider that was paid (all that is still refundable, or --amount). "
        "Audited: the invoice's chain and a core.WorkAudit row name the operator and the reason (ADR 63)."
    )

    def add_arguments(self, parser):
        parser.add_argument("number", help="The invoice number (INV-...).")
        parser.add_argument("--reason", required=True, help="Why (recorded on the refund, the chain, the audit).")
        parser.add_argument("--amount", help="How much (e.g. 10.00); default: all that is still refundable.")
        parser.add_argument("--actor", default=None, help="Who (default: the logged-in user).")
        parser.add_argument("--json", action="store_true", help="Print the refund as one JSON object.")

    def handle(self, *args, number, reason, amount=None, actor=None, **options):
        invoice = Invoice.objects.filter(number=number[:32]).first()
        if invoice is None:
            raise CommandError(f"no invoice {number!r}")
        try:
            refund = operations.refund(invoice, f"operator:{actor or getpass.getuser()}", reason, _amount(amount))
        except RefundRefused as exc:
            raise CommandError(f"refused: {exc}")
        refund.refresh_from_db()  # the provider's answer, when the task ran in process
        summary = {"invoice": invoice.number, "refund": refund.idempotency_key, "amount": str(refund.amount),
                   "currency": refund.currency, "provider": refund.provider, "status": refund.status}  # fmt: skip
        if options["json"]:
            return json.dumps(summary)
        self.stdout.write(", ".join(f"{k}={v}" for k, v in summary.items()))
        return ""


def _amount(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise CommandError(f"--amount must be a decimal number such as 10.00, not {raw!r}")
    return amount
