"""A connection's deadline (head, idle or linger): one at a time, and no timer work per request.

A keep-alive connection used to cancel its idle timer when a request began and start a new one
after the answer: two timer operations per request. Here ``arm`` and ``disarm`` only note the
kind and the due time. The timer runs on; when it fires before the due time it is re-armed for
the rest, so an idle connection costs one timer per idle-timeout period whatever its traffic.
The timer is moved only when a deadline must come sooner than it fires (a head timeout after
an idle one, a linger).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# A timer may fire this much before its due time (the loop's clock resolution, uvloop's
# millisecond): still the deadline, not a reason to re-arm for the remainder.
_SLACK_S = 0.002


class ConnectionDeadline:
    def __init__(self, on_expired: Callable[[str], None]) -> None:
        self.kind = ""  # what is awaited: "" when nothing is
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._on_expired = on_expired

    def arm(self, kind: str, seconds: float) -> None:
        """Expect ``kind`` within ``seconds`` from now, in place of any earlier deadline."""
        loop = asyncio.get_running_loop()
        self.kind = kind
        self._due = due = loop.time() + seconds
        timer = self._timer
        if timer is not None:
            if timer.when() <= due:
                return  # it fires first and re-arms itself for the rest
            timer.cancel()
        self._timer = loop.call_at(due, self._fire)

    def disarm(self) -> None:
        """Nothing is awaited now; a running timer finds nothing due and stops."""
        self.kind = ""

    def stop(self) -> None:
        """The connection closes: the timer goes too, with its reference to the connection."""
        self.kind = ""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        kind = self.kind
        if not kind:
            return
        loop = asyncio.get_running_loop()
        if self._due - loop.time() > _SLACK_S:  # re-armed since this timer was started
            self._timer = loop.call_at(self._due, self._fire)
            return
        self.kind = ""
        self._on_expired(kind)
