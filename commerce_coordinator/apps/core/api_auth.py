"""Who may call the service's APIs (orders, fulfillments, contracts, ...): a staff session or throttled
Basic, or a service JWT (edx-drf-extensions). In core, so that every plugin app's API shares it.

A service JWT is one signed by an issuer in JWT_AUTH["JWT_ISSUERS"] whose
`administrator` claim is true; edx-drf-extensions maps that claim to is_staff
on the (auto-created) user it names. That user is a dedicated service user,
`jwt:<preferred_username>` (a name no local account can have: ':' is not allowed
in usernames), so a token never changes a local account's staff flags (ADR 0021).
"""

import jwt
from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from edx_rest_framework_extensions.auth.jwt import decoder as edx_decoder
from edx_rest_framework_extensions.auth.jwt.authentication import JwtAuthentication
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAdminUser

from .authentication import ThrottledBasicAuthentication

SERVICE_USER_PREFIX = "jwt:"


def jwt_username(payload):
    """The dedicated service user of the token's client, never a local (password) account."""
    name = payload.get("preferred_username") or payload.get("username")
    return f"{SERVICE_USER_PREFIX}{name}" if name else None


class ServiceJwtAuthentication(JwtAuthentication):
    """edx-drf-extensions' JWT authentication on the client's service user `jwt:<name>`.

    edx-drf-extensions ignores JWT_PAYLOAD_GET_USERNAME_HANDLER and syncs the claims (administrator ->
    is_staff) onto whatever user `preferred_username` names, so the name is rewritten before it looks.
    """

    def authenticate_credentials(self, payload):
        user = super().authenticate_credentials(
            {**payload, "preferred_username": jwt_username(payload), "username": None}
        )
        if user.has_usable_password():  # created just now: a service user never logs in with a password
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user


def jwt_decode_handler(token):
    """edx-drf-extensions' decoder, with the symmetric signature checked first.

    edx-drf-extensions 10.9.0 first "verifies" against the asymmetric JWK set only, and an
    empty set (JWT_PUBLIC_SIGNING_JWK_SET unset, as with HS256-only issuers) raises nothing,
    so a token signed with any key would pass. With no JWK set we check the HS256 signature
    against the configured issuers ourselves before handing the token on.
    """
    if not settings.JWT_AUTH.get("JWT_PUBLIC_SIGNING_JWK_SET"):
        issuers = [i for i in settings.JWT_AUTH.get("JWT_ISSUERS") or [] if i.get("SECRET_KEY")]
        if not issuers:
            raise jwt.InvalidTokenError("No JWT issuer is configured: service JWTs are not accepted.")
        for issuer in issuers:
            try:
                jwt.decode(
                    token,
                    issuer["SECRET_KEY"],
                    algorithms=["HS256"],
                    audience=issuer["AUDIENCE"],
                    issuer=issuer["ISSUER"],
                    options={"require": ["exp", "iat"]},
                    leeway=settings.JWT_AUTH.get("JWT_LEEWAY", 0),
                )
                break
            except jwt.InvalidTokenError:
                continue
        else:
            raise jwt.InvalidTokenError("Signature, issuer, audience or expiry of the JWT is not valid.")
    return edx_decoder.jwt_decode_handler(token)


AUTHENTICATION_CLASSES = [ServiceJwtAuthentication, SessionAuthentication, ThrottledBasicAuthentication]
PERMISSION_CLASSES = [IsAdminUser]


class JwtAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "commerce_coordinator.apps.core.api_auth.ServiceJwtAuthentication"
    name = "serviceJwt"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A service JWT from the LMS's OAuth2 client-credentials flow: `JWT <token>`.",
        }


def public_api_only(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: the schema describes the service's API (/api/...), not
    the admin, debug or demo endpoints."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]
