"""The only writers of the bots app. Each module holds the services of one concept."""

from .lifecycle import (
    close_position,
    create_bot_event,
    pause_bot,
    resume_bot,
    set_bot_status,
    start_bot,
    stop_bot,
    touch_heartbeat,
)

__all__ = ["close_position", "create_bot_event",
           "pause_bot", "resume_bot", "set_bot_status", "start_bot", "stop_bot", "touch_heartbeat"]
