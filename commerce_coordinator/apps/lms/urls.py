from django.urls import path

from . import views

app_name = "lms"

urlpatterns = [
    path("orders/<str:order_number>/", views.OrderView.as_view(), name="order"),
    path("fulfillments/", views.FulfillmentView.as_view(), name="fulfillments"),
]
