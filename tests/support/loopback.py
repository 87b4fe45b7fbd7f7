"""A raw asyncio TCP server on 127.0.0.1 with a free port: the base of the test cores."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self


class LoopbackServer:
    """Subclasses implement ``_serve``; ``start`` binds a free port, ``close`` stops accepting."""

    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError
