"""Market-data pages (included by the portal under /market/)."""

from django.urls import path

from . import history_views, views

urlpatterns = [
    path("", views.market_health, name="market-health"),
    path("health.json", views.market_health_snapshot, name="market-health-snapshot"),
    path("history/", history_views.history_page, name="market-history"),
    path("history/snapshot.json", history_views.history_snapshot, name="market-history-snapshot"),
    path("history/download/", history_views.history_download, name="market-history-download"),
]
