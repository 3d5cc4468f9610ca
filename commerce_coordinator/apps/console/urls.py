from django.urls import path

from . import views

app_name = "console"

urlpatterns = [
    path("", views.search, name="search"),
    path("orders/<str:order_number>/", views.order_case, name="order"),
    path("orders/<str:order_number>/retry/", views.retry_order, name="retry-order"),
    path("lines/<int:line_id>/retry/", views.retry_line, name="retry-line"),
    path("events/<int:event_pk>/replay/", views.replay_event, name="replay-event"),
    path("traces/<str:trace_id>/", views.trace, name="trace"),
    path("attention/", views.attention, name="attention"),
    path("attention/<str:group_key>/", views.bulk, name="bulk"),
    path("signals/", views.signals, name="signals"),
]
