"""Market-data pages (included by the portal under /market/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.market_health, name="market-health"),
    path("health.json", views.market_health_snapshot, name="market-health-snapshot"),
]
