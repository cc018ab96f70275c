"""The portal's URLs (auth views from django.contrib.auth under /accounts/)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from .views import auth, discrepancies, editing, limits, orders, pages

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("dashboard.json", pages.dashboard_snapshot, name="dashboard-snapshot"),
    path("bots/new/", editing.bot_create, name="bot-create"),
    path("bots/<int:bot_id>/", pages.bot_detail, name="bot-detail"),
    path("bots/<int:bot_id>/snapshot.json", pages.bot_snapshot, name="bot-snapshot"),
    path("bots/<int:bot_id>/chart.svg", pages.bot_chart, name="bot-chart"),
    path("bots/<int:bot_id>/edit/", editing.bot_edit, name="bot-edit"),
    path("bots/<int:bot_id>/<str:action>/", pages.bot_action, name="bot-action"),
    path("orders/", orders.orders, name="orders"),
    path("discrepancies/", discrepancies.discrepancies, name="discrepancies"),
    path("limits/", limits.limits, name="limits"),
    path("exchange-accounts/", editing.exchange_accounts, name="exchange-accounts"),
    path("exchange-accounts/<int:account_id>/delete/", editing.exchange_account_delete,
         name="exchange-account-delete"),
    path("market/", include("marketdata.urls")),
    path("accounts/signup/", auth.signup, name="signup"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
