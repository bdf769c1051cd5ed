from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import resolve_url
from django.template.loader import render_to_string
from django_htmx.http import HttpResponseClientRedirect


class HtmxAwareLoginRequiredMiddleware(LoginRequiredMiddleware):
    """When a session expires, an htmx request navigates the whole page to the login form.

    Without this, htmx would swap the login page into whatever row or panel made the request.
    """

    def handle_no_permission(  # type: ignore[override]
        self, request: HttpRequest, view_func: Callable[..., HttpResponseBase]
    ) -> HttpResponseBase:
        if getattr(request, "htmx", False):
            page = request.htmx.current_url_abs_path or request.get_full_path()  # type: ignore[attr-defined]
            login = redirect_to_login(page, resolve_url(self.get_login_url(view_func)))
            return HttpResponseClientRedirect(login["Location"])
        return super().handle_no_permission(request, view_func)


class HtmxMessagesMiddleware:
    """Deliver messages on htmx responses as an out-of-band swap into the toast region.

    A partial swapped into a row has no room for messages, and leaving them in the session would show them
    on a later page, out of context.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            not getattr(request, "htmx", False)
            or response.streaming
            or "HX-Redirect" in response
            or 300 <= response.status_code < 400
            or not response.get("Content-Type", "").startswith("text/html")
        ):
            return response
        pending = list(messages.get_messages(request))
        if pending:
            toasts = render_to_string("includes/toasts.html", {"messages": pending})
            response.content += f'<div id="toasts" hx-swap-oob="beforeend">{toasts}</div>'.encode()
        return response
