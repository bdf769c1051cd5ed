from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User


class AuthedRequest(HttpRequest):
    """The request our views see: a signed-in user (LoginRequiredMiddleware) and django-htmx's details."""

    user: User
    htmx: HtmxDetails
