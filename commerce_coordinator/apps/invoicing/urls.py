"""Mounted at /api/v1/billing/."""

from django.urls import path

from . import views

app_name = "invoicing"

urlpatterns = [
    path("accounts/", views.AccountListView.as_view(), name="accounts"),
    path("accounts/<int:account_id>/invoices/", views.AccountInvoicesView.as_view(), name="account-invoices"),
    path("invoices/<str:number>/", views.InvoiceView.as_view(), name="invoice"),
    path("invoices/<str:number>/pay/", views.InvoicePayView.as_view(), name="invoice-pay"),
    path("invoices/<str:number>/refund/", views.InvoiceRefundView.as_view(), name="invoice-refund"),
]
