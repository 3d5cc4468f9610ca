"""Who may call the LMS fulfillment API: a staff session, or a service JWT (edx-drf-extensions).

A service JWT is one signed by an issuer in JWT_AUTH["JWT_ISSUERS"] whose
`administrator` claim is true; edx-drf-extensions maps that claim to is_staff
on the (auto-created) user named by `preferred_username`.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from edx_rest_framework_extensions.auth.jwt.authentication import JwtAuthentication
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAdminUser


def jwt_username(payload):
    return payload.get("preferred_username") or payload.get("username")


AUTHENTICATION_CLASSES = [JwtAuthentication, SessionAuthentication]
PERMISSION_CLASSES = [IsAdminUser]


class JwtAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "edx_rest_framework_extensions.auth.jwt.authentication.JwtAuthentication"
    name = "serviceJwt"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A service JWT from the LMS's OAuth2 client-credentials flow: `JWT <token>`.",
        }
