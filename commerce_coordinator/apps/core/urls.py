from django.urls import path

from . import views

app_name = "core"

urlpatterns = [
    path("signals/", views.SignalMapView.as_view(), name="signals"),
    path("traces/", views.TraceListView.as_view(), name="traces"),
    path("traces/<str:trace_id>/", views.TraceDetailView.as_view(), name="trace"),
]
