from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def home(request: HttpRequest) -> HttpResponse:
    """Until the portal lands, the admin is the front door."""
    return redirect("/admin/")
