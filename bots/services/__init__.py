"""The only writers of the bots app. Each module holds the services of one concept."""

from .lifecycle import (
    create_bot_event,
    pause_bot,
    resume_bot,
    set_bot_status,
    start_bot,
    stop_bot,
    touch_heartbeat,
)

__all__ = ["create_bot_event", "pause_bot", "resume_bot", "set_bot_status", "start_bot", "stop_bot", "touch_heartbeat"]
