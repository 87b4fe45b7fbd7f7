"""The seal audit trail: one JSON line per sealed request, enough to re-verify it later.

Non-repudiation needs the exact signing string (or signature base), the signature, the
certificate's hash and the digest as received, with the decision and the time. Lines go
through a queue to a file written on a background thread (``logging.handlers``'s
QueueListener), so a slow disk never blocks the event loop.
"""

from __future__ import annotations

import base64
import json
import logging
import logging.handlers
import queue
from pathlib import Path
from typing import Any


class AuditLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._logger = logging.Logger("psd2-gateway.audit")
        self._logger.addHandler(logging.handlers.QueueHandler(self._queue))
        self._listener.start()

    def record(self, **fields: Any) -> None:
        self._logger.info(json.dumps({k: _plain(v) for k, v in fields.items()}, separators=(",", ":")))

    def close(self) -> None:
        if self._listener._thread is not None:  # stop() is not idempotent
            self._listener.stop()


def _plain(value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value
