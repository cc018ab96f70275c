from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_default_schedules(sender: AppConfig, **kwargs: object) -> None:
    """The periodic tasks exist after ``migrate`` alone (idempotent: an admin's edits are kept), so a
    deploy that follows the README reconciles without knowing about ``setup_schedules``."""
    import logging

    from django.db import DEFAULT_DB_ALIAS, DatabaseError

    if kwargs.get("using", DEFAULT_DB_ALIAS) != DEFAULT_DB_ALIAS:
        return
    from .services.jobs import setup_schedules

    try:
        setup_schedules()
    except DatabaseError:  # a partial migrate (django_celery_beat's tables not there yet): the next one
        logging.getLogger(__name__).warning("default schedules not created yet", exc_info=True)


class BotsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "bots"
    verbose_name = "Trading bots"

    def ready(self) -> None:
        post_migrate.connect(create_default_schedules, sender=self, dispatch_uid="bots.default_schedules")
