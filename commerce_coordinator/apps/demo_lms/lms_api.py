"""The demo LMS's APIs, shaped like the Open edX LMS's: the OAuth2 token endpoint and the enrollment API.

POST /demo_lms/oauth2/access_token      grant_type=client_credentials, client_id, client_secret, token_type=jwt
POST /demo_lms/api/enrollment/v1/enrollment   {"user", "mode", "is_active", "course_details": {"course_id"}}
GET  /demo_lms/api/enrollment/v1/enrollment?user=<user>

The enrollment API is on the hot path of every order line (bench/fulfillment), so it does the least
work that keeps its contract: the JWT is checked once (signature, issuer, audience, expiry) and the
caller is the user the token names, without a user row (DemoJwtAuthentication); an enrollment is one
upsert and one read, not a locked read-then-write in a transaction with a savepoint.
"""

from __future__ import annotations

import re
import time

import jwt
from django.conf import settings
from django.db import connections
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from .models import DemoEnrollment, DemoOAuthClient

TOKEN_LIFETIME = 3600
COURSE_KEY = re.compile(r"^course-v1:[\w.~-]+\+[\w.~-]+\+[\w.~-]+$")
USERNAME = re.compile(r"^[\w.@+-]{1,150}$")


def issuer() -> dict:
    return settings.JWT_AUTH["JWT_ISSUERS"][0]


def make_jwt(client: DemoOAuthClient, lifetime: int = TOKEN_LIFETIME) -> str:
    """A JWT shaped like the LMS's (edx-platform's JwtBuilder), signed with the issuer's key."""
    now = int(time.time())
    iss = issuer()
    payload = {
        "aud": iss["AUDIENCE"],
        "iss": iss["ISSUER"],
        "iat": now,
        "exp": now + lifetime,
        "preferred_username": client.username,
        "sub": f"demo-{client.client_id}",
        "scopes": ["read", "write"],
        "version": "1.2.0",
        "administrator": client.is_administrator,
        "is_restricted": False,
        "filters": [],
        "grant_type": "client_credentials",
    }
    return jwt.encode(payload, iss["SECRET_KEY"], algorithm="HS256")


class AccessTokenView(APIView):
    """The client-credentials grant edx-rest-api-client's OAuthAPIClient uses."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser, MultiPartParser, JSONParser]

    def post(self, request):
        data = request.data
        if data.get("grant_type") != "client_credentials":
            return Response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Only grant_type=client_credentials is supported.",
                },
                status=400,
            )
        client = DemoOAuthClient.authenticate(str(data.get("client_id", "")), str(data.get("client_secret", "")))
        if client is None:
            return Response(
                {"error": "invalid_client", "error_description": "Unknown client or wrong secret."}, status=401
            )
        token_type = data.get("token_type", "jwt").lower()
        return Response(
            {
                "access_token": make_jwt(client),
                "token_type": "JWT" if token_type == "jwt" else "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "scope": "read write",
            }
        )


class ServiceUser:
    """The caller a valid demo-LMS JWT names. The real LMS maps the token to a user row; the demo LMS
    needs none: what it checks (IsAdminUser) is the token's `administrator` claim."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, username: str, is_staff: bool):
        self.username = username
        self.is_staff = is_staff
        self.is_superuser = False
        self.pk = self.id = None

    def __str__(self):
        return self.username


class DemoJwtAuthentication(BaseAuthentication):
    """`Authorization: JWT <token>` signed by this demo LMS (HS256, the first JWT issuer's key), with its
    issuer, audience, expiry and issue time checked; no header means "not this scheme" (session next).

    A caller sends the same token for an hour, so the claims of a token whose signature verified are kept
    (per process, a bounded map keyed by the whole token and the issuer's key); its expiry is checked on
    every request.
    """

    keyword = "jwt"
    _verified: dict[tuple[str, str], dict] = {}
    _MAX_VERIFIED = 256

    def authenticate(self, request):
        parts = request.META.get("HTTP_AUTHORIZATION", "").split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid Authorization header: expected `JWT <token>`.")
        iss = issuer()
        leeway = settings.JWT_AUTH.get("JWT_LEEWAY", 0)
        key = (parts[1], iss["SECRET_KEY"] + "|" + iss["AUDIENCE"] + "|" + iss["ISSUER"])
        claims = self._verified.get(key)
        if claims is not None:
            if claims["exp"] + leeway < time.time():
                self._verified.pop(key, None)
                raise AuthenticationFailed("Invalid JWT: Signature has expired")
            return self._user(claims)
        try:
            claims = jwt.decode(
                parts[1],
                iss["SECRET_KEY"],
                algorithms=["HS256"],
                audience=iss["AUDIENCE"],
                issuer=iss["ISSUER"],
                options={"require": ["exp", "iat"]},
                leeway=leeway,
            )
        except jwt.InvalidTokenError as exc:
            raise AuthenticationFailed(f"Invalid JWT: {exc}") from None
        user = self._user(claims)
        if len(self._verified) >= self._MAX_VERIFIED:
            self._verified.clear()
        self._verified[key] = claims
        return user

    @staticmethod
    def _user(claims):
        username = claims.get("preferred_username") or claims.get("username")
        if not isinstance(username, str) or not username:
            raise AuthenticationFailed("The JWT names no user (preferred_username).")
        return ServiceUser(username, claims.get("administrator") is True), claims

    def authenticate_header(self, request):
        return 'JWT realm="api"'


def enrollment_data(enrollment: DemoEnrollment) -> dict:
    return {
        "created": enrollment.created.isoformat(),
        "mode": enrollment.mode,
        "is_active": enrollment.is_active,
        "course_details": {
            "course_id": enrollment.course_id,
            "course_name": enrollment.course_id.split("+")[1] if "+" in enrollment.course_id else enrollment.course_id,
            "enrollment_start": None,
            "enrollment_end": None,
            "course_start": None,
            "course_end": None,
            "invite_only": False,
            "course_modes": [
                {
                    "slug": mode,
                    "name": mode.title(),
                    "min_price": 0,
                    "suggested_prices": "",
                    "currency": "usd",
                    "expiration_datetime": None,
                    "description": None,
                    "sku": None,
                    "bulk_sku": None,
                }
                for mode in ("audit", "verified")
            ],
        },
        "user": enrollment.user,
    }


class EnrollmentView(APIView):
    """The LMS enrollment API as a server-to-server caller (a staff/service user) sees it."""

    authentication_classes = [DemoJwtAuthentication, SessionAuthentication]
    permission_classes = [IsAdminUser]

    def get(self, request):
        user = request.query_params.get("user") or request.user.username
        rows = DemoEnrollment.objects.filter(user=user).order_by("id")
        return Response([enrollment_data(e) for e in rows])

    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        details = data.get("course_details")
        course_id = details.get("course_id") if isinstance(details, dict) else None
        if not isinstance(course_id, str) or len(course_id) > 255 or not COURSE_KEY.match(course_id):
            return Response(
                {
                    "message": f"Course ID must be specified to create a new enrollment "
                    f"(a course-v1:ORG+COURSE+RUN key), got {course_id!r}."
                },
                status=400,
            )
        user = data.get("user", request.user.username)
        if isinstance(user, int):
            user = str(user)
        if not isinstance(user, str) or not USERNAME.match(user):
            return Response({"message": f"Invalid user {user!r}."}, status=400)
        mode = data.get("mode", "audit")
        if mode not in ("audit", "verified", "professional", "no-id-professional", "honor", "credit", "masters"):
            return Response(
                {
                    "message": f"The [{mode}] course mode is expired or otherwise unavailable for "
                    f"course run [{course_id}]."
                },
                status=400,
            )
        is_active = data.get("is_active", True)
        if not isinstance(is_active, bool):
            return Response({"message": "'is_active' must be a boolean."}, status=400)
        attributes = data.get("enrollment_attributes") or []
        values = {"mode": mode, "is_active": is_active}
        if attributes:
            values["enrollment_attributes"] = attributes
        # One INSERT ... ON CONFLICT / ON DUPLICATE KEY UPDATE on the (user, course_id) constraint: the POST
        # sets the enrollment's state, concurrent first enrollments included, in one autocommitted statement.
        unique = ["user", "course_id"]
        if not connections[DemoEnrollment.objects.db].features.supports_update_conflicts_with_target:
            unique = None  # MySQL/MariaDB: ON DUPLICATE KEY UPDATE names no target
        DemoEnrollment.objects.bulk_create(
            [DemoEnrollment(user=user, course_id=course_id, **values)],
            update_conflicts=True,
            unique_fields=unique,
            update_fields=[*values, "modified"],
        )
        enrollment = DemoEnrollment.objects.get(user=user, course_id=course_id)
        return Response(enrollment_data(enrollment))
