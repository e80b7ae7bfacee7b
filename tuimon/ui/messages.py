"""The engine's replies as Textual messages: the client's receiver thread hands each one
over with ``post_message``, which is thread-safe."""

from __future__ import annotations

from textual.message import Message


class EngineReply(Message):
    """Something the engine sent (see :mod:`tuimon.server.protocol`)."""

    def __init__(self, reply) -> None:
        super().__init__()
        self.reply = reply
