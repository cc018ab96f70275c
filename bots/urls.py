"""The portal's URLs (auth views from django.contrib.auth under /accounts/)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import converters  # noqa: F401  (registers <id:...>)
from .views import auth, backtests, discrepancies, editing, limits, notifications, orders, pages, portfolio

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("dashboard.json", pages.dashboard_snapshot, name="dashboard-snapshot"),
    path("bots/new/", editing.bot_create, name="bot-create"),
    path("bots/<id:bot_id>/", pages.bot_detail, name="bot-detail"),
    path("bots/<id:bot_id>/snapshot.json", pages.bot_snapshot, name="bot-snapshot"),
    path("bots/<id:bot_id>/chart.svg", pages.bot_chart, name="bot-chart"),
    path("bots/<id:bot_id>/edit/", editing.bot_edit, name="bot-edit"),
    path("bots/<id:bot_id>/<slug:action>/", pages.bot_action, name="bot-action"),
    path("orders/", orders.orders, name="orders"),
    path("portfolio/", portfolio.portfolio, name="portfolio"),
    path("notifications/", notifications.notifications, name="notifications"),
    path("favicon.ico", pages.favicon, name="favicon"),
    path("discrepancies/", discrepancies.discrepancies, name="discrepancies"),
    path("limits/", limits.limits, name="limits"),
    path("exchange-accounts/", editing.exchange_accounts, name="exchange-accounts"),
    path("exchange-accounts/<id:account_id>/delete/", editing.exchange_account_delete,
         name="exchange-account-delete"),
    path("backtests/", backtests.backtest_index, name="backtests"),
    path("backtests/compare/", backtests.backtest_compare, name="backtest-compare"),
    path("backtests/<id:run_id>/", backtests.backtest_detail, name="backtest-detail"),
    path("backtests/<id:run_id>/snapshot.json", backtests.backtest_snapshot, name="backtest-snapshot"),
    path("backtests/<id:run_id>/trades.csv", backtests.backtest_csv, name="backtest-csv"),
    path("backtests/<id:run_id>/paper-bot/", backtests.backtest_start_bot, name="backtest-start-bot"),
    path("backtests/sweeps/", backtests.sweep_create, name="sweep-create"),
    path("backtests/sweeps/<id:sweep_id>/", backtests.sweep_detail, name="sweep-detail"),
    path("backtests/sweeps/<id:sweep_id>/snapshot.json", backtests.sweep_snapshot, name="sweep-snapshot"),
    path("market/", include("marketdata.urls")),
    path("accounts/signup/", auth.signup, name="signup"),
    path("accounts/login/", auth.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
