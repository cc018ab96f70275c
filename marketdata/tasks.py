"""Celery tasks of the marketdata app: thin entry points, each one service call."""

from __future__ import annotations

from celery import shared_task

from . import history


@shared_task(name="marketdata.fetch_history", ignore_result=True, acks_late=True, soft_time_limit=3300,
             time_limit=3600)
def fetch_history(download_id: int) -> str:
    """Download a requested range of candles (a year of minutes is about 530 pages on Binance)."""
    return history.run_download(download_id)
