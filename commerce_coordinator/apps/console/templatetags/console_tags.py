"""Status badges: every status is shown as text and colour together, never colour alone."""

from django import template
from django.utils.html import format_html

from commerce_coordinator.apps.lms.models import OrderLine

register = template.Library()

# Status value -> tone (the badge's colour class).
TONES = {
    "ok": "ok",
    "fulfilled": "ok",
    "refunded": "ok",
    "processed": "ok",
    "done": "ok",
    "error": "error",
    "failed": "error",
    "refund_failed": "error",
    "unroutable": "error",
    "retry": "warn",
    "pending": "moving",
    "refund_pending": "moving",
    "fulfilling": "moving",
    "running": "moving",
    "queued": "moving",
    "received": "moving",
    "processing": "moving",
    "ignored": "muted",
    "skipped": "muted",
}


@register.filter
def tone(status) -> str:
    return TONES.get(str(status), "muted")


@register.simple_tag
def badge(status, text=None):
    """<span class="badge tone-…">TEXT</span>; the text defaults to the status itself."""
    status = str(status)
    return format_html('<span class="badge tone-{}">{}</span>', tone(status), text or status.replace("_", " "))


@register.filter
def short(path) -> str:
    """A dotted path without the project's common prefix (commerce_coordinator.apps.)."""
    return str(path).removeprefix("commerce_coordinator.apps.")


KEY_LABELS = {"order_number": "order", "payment_id": "payment", "lms_user_id": "LMS user", "event_id": "event"}


@register.filter
def key_label(key) -> str:
    """How a page names a trace business key (order_number -> order)."""
    return KEY_LABELS.get(str(key), str(key).replace("_", " "))


@register.simple_tag
def line_badge(line):
    """An order line's state (its action and work status together, e.g. "Enrollment failed") as a badge."""
    return badge(line.state, OrderLine.State(line.state).label)
