"""The billing API (service JWT or staff, like the order API): accounts, their invoices, one invoice, pay, refund.

Writes take an Idempotency-Key header: the first answer is stored under it and a repeat gets it again (a refund's
in its own transaction, core.api_writes; pay's once the charge committed, so that it shows an in-process charge).
Errors are JSON {"error", "detail"} (core's exception handler).
"""

from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from commerce_coordinator.apps.core import api_writes, tracing
from commerce_coordinator.apps.core.api_auth import AUTHENTICATION_CLASSES, PERMISSION_CLASSES

from . import operations
from .models import Account, ApiWrite, Invoice
from .refunds import RefundRefused
from .serializers import (
    AccountSerializer,
    InvoiceSerializer,
    InvoiceSummarySerializer,
    PayRequestSerializer,
    RefundRequestSerializer,
    RefundSerializer,
)
from .states import InvalidTransition, StaleInvoice

ERROR = inline_serializer("BillingError", fields={"error": serializers.CharField(), "detail": serializers.JSONField()})
PAY_ANSWER = inline_serializer(
    "PayAnswer",
    fields={"invoice": InvoiceSummarySerializer(), "charge": serializers.CharField(allow_null=True)},
)
REFUND_ANSWER = inline_serializer("RefundAnswer", fields={"invoice": InvoiceSummarySerializer(),
                                                          "refund": RefundSerializer()})  # fmt: skip


class BillingApiView(APIView):
    authentication_classes = AUTHENTICATION_CLASSES  # core's: a service JWT, a staff session or Basic
    permission_classes = PERMISSION_CLASSES


def _account(account_id: int) -> Account:
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"No billing account {account_id}.")
    return account


def _invoice(number: str) -> Invoice:
    invoice = (
        Invoice.objects.select_related("account")
        .prefetch_related("lines", "events", "charges", "refunds")
        .filter(number=number[:32])
        .first()
    )
    if invoice is None:
        raise NotFound(f"No invoice {number!r}.")
    return invoice


class AccountListView(BillingApiView):
    @extend_schema(
        summary="Billing accounts of an LMS user",
        parameters=[OpenApiParameter("lms_user_id", int, required=True)],
        responses={200: AccountSerializer(many=True), 400: ERROR},
    )
    def get(self, request):
        raw = request.query_params.get("lms_user_id", "")
        if not raw.isdigit():
            raise ParseError("lms_user_id is required and must be a non-negative integer")
        accounts = Account.objects.filter(lms_user_id=int(raw)).order_by("pk")
        return Response({"results": AccountSerializer(accounts, many=True).data})


class AccountInvoicesView(BillingApiView):
    @extend_schema(
        summary="An account's invoices, newest period first",
        responses={200: InvoiceSummarySerializer(many=True), 404: ERROR},
    )
    def get(self, request, account_id):
        account = _account(account_id)
        invoices = account.invoices.order_by("-period_start")
        return Response({"account": account.pk, "results": InvoiceSummarySerializer(invoices, many=True).data})


class InvoiceView(BillingApiView):
    @extend_schema(
        summary="An invoice: lines, state, its event chain, charge attempts and trace ids",
        responses={200: InvoiceSerializer, 404: ERROR},
    )
    def get(self, request, number):
        return Response(InvoiceSerializer(_invoice(number)).data)


class InvoicePayView(BillingApiView):
    @extend_schema(
        summary="Charge an open invoice now (optionally with a new saved method); needs an Idempotency-Key",
        request=PayRequestSerializer,
        parameters=[api_writes.IDEMPOTENCY_KEY],
        responses={202: PAY_ANSWER, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request, number):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 255:
            raise ValidationError({"Idempotency-Key": "a header of 1-255 characters is required for this write"})
        stored = ApiWrite.objects.filter(idempotency_key=key, method="POST", path=request.path).first()
        if stored is not None:
            return Response(stored.response, status=stored.status_code, headers={"Idempotent-Replayed": "true"})
        data = PayRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invoice = _invoice(number)
        actor = f"api:{request.user.get_username()}"
        # The charge commits (and, without a broker, runs) before its answer is stored: the answer shows it.
        with tracing.span("request", f"POST pay {invoice.number}", actor, invoice_number=invoice.number):
            code, body = self._pay(invoice, data.validated_data, actor)
        try:
            with transaction.atomic():
                ApiWrite.objects.create(idempotency_key=key, method="POST", path=request.path, status_code=code,
                                        response=body, actor=actor)  # fmt: skip
        except IntegrityError:  # a concurrent request with this key won: answer as it did
            stored = ApiWrite.objects.get(idempotency_key=key, method="POST", path=request.path)
            return Response(stored.response, status=stored.status_code)
        return Response(body, status=code)

    def _pay(self, invoice: Invoice, values: dict, actor: str) -> tuple[int, dict]:
        if values.get("provider"):
            Account.objects.filter(pk=invoice.account_id).update(
                payment_provider=values["provider"], payment_token=values["payment_token"]
            )
            invoice.account.refresh_from_db()
        try:
            charge = operations.retry_charge_now(invoice, actor, values["reason"])
        except (InvalidTransition, StaleInvoice) as exc:
            return status.HTTP_409_CONFLICT, {"error": "conflict", "detail": str(exc)}
        fresh = _invoice(invoice.number)
        body = {"invoice": InvoiceSummarySerializer(fresh).data, "charge": charge.idempotency_key if charge else None}
        if charge is None:
            body["detail"] = "the account has no saved payment method"
        return status.HTTP_202_ACCEPTED, body


class InvoiceRefundView(BillingApiView):
    @extend_schema(
        summary="Refund a paid invoice (all that is refundable, or `amount`) through its provider; needs an "
        "Idempotency-Key",
        description="202: the refund is requested (status `requested`); the provider's answer is recorded on the "
        "invoice (its `refunds` and event chain, `amount_refunded`). 409: not paid, nothing left, or more than is "
        "refundable, with the reason (ADR 63).",
        request=RefundRequestSerializer,
        parameters=[api_writes.IDEMPOTENCY_KEY],
        responses={202: REFUND_ANSWER, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request, number):
        data = RefundRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invoice = _invoice(number)

        def write(actor):
            with tracing.span("request", f"POST refund {invoice.number}", actor, invoice_number=invoice.number):
                try:
                    refund = operations.refund(invoice, actor, data.validated_data["reason"],
                                               data.validated_data.get("amount"), audited=False)  # fmt: skip
                except RefundRefused as exc:
                    return status.HTTP_409_CONFLICT, {"error": "conflict", "detail": str(exc)}
            fresh = InvoiceSummarySerializer(_invoice(invoice.number)).data
            return status.HTTP_202_ACCEPTED, {"invoice": fresh, "refund": RefundSerializer(refund).data}

        return api_writes.idempotent(request, write, ApiWrite)
