"""Idempotent API writes: the first answer to a write is stored under its Idempotency-Key in the write's own
transaction, so a repeat (even a concurrent one) gets that answer and changes nothing.

Each app keeps its answers in its own model (fields idempotency_key, method, path, status_code, response, actor,
unique on the first three); core holds the one way of using it (the billing and subscriptions APIs).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=True,
    description="1-255 characters; a repeat returns the first answer (header Idempotent-Replayed) and changes nothing.",
)  # fmt: skip


def idempotent(request, write: Callable[[str], tuple[int, dict]], model) -> Response:
    """Run `write(actor)` once per Idempotency-Key (and method and path); a repeat gets the stored answer."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 255:
        raise ValidationError({"Idempotency-Key": "a header of 1-255 characters is required for this write"})
    where = {"idempotency_key": key, "method": request.method, "path": request.path[:255]}
    stored = model.objects.filter(**where).first()
    if stored is not None:
        return Response(stored.response, status=stored.status_code, headers={"Idempotent-Replayed": "true"})
    actor = f"api:{request.user.get_username()}"
    try:
        with transaction.atomic():
            code, body = write(actor)
            model.objects.create(**where, status_code=code, response=body, actor=actor)
    except IntegrityError:  # a concurrent request with this key won (its work stands, ours rolled back)
        stored = model.objects.get(**where)
        return Response(stored.response, status=stored.status_code, headers={"Idempotent-Replayed": "true"})
    return Response(body, status=code)
