"""A fill's key becomes (exchange, market, trade id): Binance numbers trades per symbol, so two
symbols may carry the same trade id; existing fills take their order's market. An exchange account
keeps what its key may do (checked with the venue) and whether its owner accepted a withdrawal risk."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_markets(apps, schema_editor):
    Fill = apps.get_model("bots", "Fill")
    Order = apps.get_model("bots", "Order")
    Fill.objects.filter(market__isnull=True).update(
        market_id=Subquery(Order.objects.filter(pk=OuterRef("order_id")).values("bot__market_id")[:1]))


class Migration(migrations.Migration):
    dependencies = [
        ("bots", "0003_guardian_user_limits"),
        ("marketdata", "0001_initial"),
    ]

    operations = [
        migrations.AddField(model_name="exchangeaccount", name="key_permissions",
                            field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(model_name="exchangeaccount", name="permissions_checked_at",
                            field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(model_name="exchangeaccount", name="withdraw_risk_accepted",
                            field=models.BooleanField(default=False)),
        migrations.AddField(
            model_name="fill",
            name="market",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="fills",
                                    to="marketdata.market"),
        ),
        migrations.RunPython(fill_markets, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="fill",
            name="market",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="fills",
                                    to="marketdata.market"),
        ),
        migrations.RemoveConstraint(model_name="fill", name="fill_trade_unique_per_exchange"),
        migrations.AddConstraint(
            model_name="fill",
            constraint=models.UniqueConstraint(fields=("exchange", "market", "trade_id"),
                                               name="fill_trade_unique_per_market"),
        ),
    ]
