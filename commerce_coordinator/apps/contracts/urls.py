from django.urls import path

from . import views

app_name = "contracts"

urlpatterns = [
    path("contracts/<int:contract_id>/", views.ContractView.as_view(), name="contract"),
]
