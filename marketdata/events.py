"""Live updates of the marketdata app: history download progress to the market-data pages' socket
(``/ws/market/``). Candles hold no user's data, so every signed-in user may see them."""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)
HISTORY_GROUP = "market.history"


class HistoryProgressPayload(TypedDict):
    type: Literal["history.progress"]
    download_id: int
    market: str
    status: str
    progress: float
    stored: int


def publish_history(download: Any) -> None:
    """A download's progress (best effort: a lost push is healed by the page's reload)."""
    payload: HistoryProgressPayload = {
        "type": "history.progress", "download_id": download.pk, "market": str(download.market),
        "status": download.status, "progress": round(download.progress, 4), "stored": download.stored}
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(HISTORY_GROUP, dict(payload))
    except Exception:
        log.warning("history progress push failed", exc_info=True)
