"""Inbound webhooks: verify, store once, answer fast. Processing happens in the Celery task."""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from . import inbox
from .providers import BodyTooLarge, MalformedBody, Unroutable, WebhookError, get_provider
from .redaction import redact

logger = logging.getLogger(__name__)


@method_decorator(csrf_exempt, name="dispatch")
class WebhookView(View):
    """``POST /payments/webhooks/<provider>/`` and ``/payments/webhooks/<provider>/<kind>/``."""

    http_method_names = ["post"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        response = JsonResponse({"error": "method_not_allowed", "detail": "Webhooks are POST only."}, status=405)
        response["Allow"] = "POST"
        return response

    def post(self, request, provider: str, kind: str | None = None):
        try:
            plugin = get_provider(provider)
        except KeyError:
            return _not_found(f"No payment provider {provider!r}.")
        if (plugin.kinds is None) != (kind is None) or (kind is not None and kind not in plugin.kinds):
            return _not_found(f"No webhook {request.path} (kinds: {', '.join(plugin.kinds or ()) or 'none'}).")
        mapped = unroutable = None
        try:
            body = _read_body(request)
            plugin.verify(request, body)
            incoming = plugin.parse(request, body, kind)
            mapped = plugin.route(incoming.type, incoming.payload)
        except WebhookError as error:
            logger.warning("webhook %s rejected: %s %s: %s", provider, error.status, error.code, redact(error.detail))
            return JsonResponse(plugin.error_body(error), status=error.status)
        except Unroutable as error:  # verified, but names no order of ours: acknowledged and stored as such
            unroutable = error
        event, created = inbox.store(
            provider,
            incoming.event_id,
            incoming.type,
            incoming.payload,
            mapped,
            enqueue_on_commit=False,
            payload_json=incoming.raw_json,
            unroutable=unroutable,
        )
        if not created:
            logger.info("webhook %s:%s is a repeat: acknowledged, not processed again", provider, incoming.event_id)
        status = inbox.operator_word(event.status) if event is not None else "duplicate"
        answer = plugin.acknowledge(incoming.event_id, status, duplicate=not created, unroutable=unroutable)
        response = AcknowledgeResponse(answer)
        if created and event.status == event.Status.PENDING:
            response.after_sent(partial(inbox.schedule, event))
        return response


class AcknowledgeResponse(JsonResponse):
    """A JSON answer that runs callbacks once the server has sent it (WSGI close()).

    The event is committed before the answer is built, so enqueueing its processing after the answer
    costs the provider no latency; if the process dies in between, the sweep enqueues it.
    """

    def after_sent(self, func) -> None:
        self._after_sent = [*getattr(self, "_after_sent", []), func]

    def close(self):
        try:
            super().close()
        finally:
            for func in getattr(self, "_after_sent", []):
                try:
                    func()
                except Exception:
                    logger.exception("after-response callback failed; the sweep will enqueue the event")


def _read_body(request) -> bytes:
    limit = settings.PAYMENTS_WEBHOOK_MAX_BODY
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = -1
    if declared < 0:
        raise MalformedBody("the Content-Length header is not a length")
    if declared > limit:
        raise BodyTooLarge(f"the body is over {limit} bytes")
    try:
        body = request.body
    except RequestDataTooBig:
        raise BodyTooLarge(f"the body is over {limit} bytes") from None
    if len(body) > limit:
        raise BodyTooLarge(f"the body is over {limit} bytes")
    return body


def _not_found(detail: str) -> JsonResponse:
    return JsonResponse({"error": "not_found", "detail": detail}, status=404)
