"""Sign-up, when an admin has not switched it off (``SIGNUP_ENABLED``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.views import LoginView as BaseLoginView
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ..forms import SignUpForm
from ..services import demo


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in; 404 when sign-up is disabled."""
    if not settings.SIGNUP_ENABLED:
        raise Http404("Sign-up is disabled")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("dashboard")
    return render(request, "registration/signup.html", {"form": form})


class LoginView(BaseLoginView):
    """django.contrib.auth's login, offering the sign-up link only while sign-up is enabled, and
    naming the demo accounts when the demo data is loaded (never in production)."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: object) -> dict:
        return {**super().get_context_data(**kwargs), "signup_enabled": settings.SIGNUP_ENABLED,
                "demo_accounts": demo.demo_accounts()}
