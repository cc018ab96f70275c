"""The Celery app: configured from Django settings (CELERY_*), tasks discovered in each app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botplatform.settings")

app = Celery("botplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue_on_commit(task_name: str, *args: object) -> None:
    """Queue a task by its name once the current transaction commits. Services start work this way:
    entry points (views, admin, commands) do not import the tasks modules, another entry point."""
    from django.db import transaction

    def send() -> None:
        if task_name not in app.tasks:  # the web process imports the tasks modules on first use
            app.loader.import_default_modules()
        app.tasks[task_name].delay(*args)

    transaction.on_commit(send)
