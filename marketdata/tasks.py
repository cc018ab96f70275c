"""Celery tasks of the marketdata app: thin entry points, each one service call."""

from __future__ import annotations

from celery import shared_task

from . import history
from .services import load_catalogue


@shared_task(name="marketdata.load_catalogue", ignore_result=True, soft_time_limit=60, time_limit=90)
def load_market_catalogue() -> tuple[int, int]:
    """Create or update the built-in exchanges and markets (idempotent)."""
    return load_catalogue()


@shared_task(name="marketdata.fetch_history", ignore_result=True, acks_late=True, soft_time_limit=3300,
             time_limit=3600)
def fetch_history(download_id: int) -> str:
    """Download a requested range of candles (a year of minutes is about 530 pages on Binance)."""
    return history.run_download(download_id)
