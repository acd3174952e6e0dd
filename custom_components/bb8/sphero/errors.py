"""Errors the session raises, as types a caller can catch and translate for people."""

from __future__ import annotations

from .policy import FailureReason
from .protocol import mrsp_name


class BB8Error(Exception):
    """Base class of everything the session raises."""


class SessionClosedError(BB8Error):
    """The session was closed; it accepts no new work."""


class NotConnectedError(BB8Error):
    """The toy is not connected (and the session will not connect for this request)."""


class LinkLostError(NotConnectedError):
    """The link dropped after the command was written, before the toy answered.

    Unlike a command refused for want of a link, the toy may or may not have acted on it, and
    that is true whatever the connection mode, so people are told so rather than told to wait
    for a reconnect.
    """


class NotSupportedError(BB8Error):
    """The toy's model has no part or command for what was asked; nothing was sent."""


class BB8ConnectionError(BB8Error):
    """A connection attempt failed; ``reason`` says how, for the policy and for people."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        """Keep the reason beside the message."""
        super().__init__(message)
        self.reason = reason


class CommandTimeoutError(BB8Error):
    """The toy did not answer a command within its timeout."""

    def __init__(self, command: str, timeout: float) -> None:
        """Name the command and the timeout that expired."""
        super().__init__(f"{command} got no answer within {timeout:g} s")
        self.command = command
        self.timeout = timeout


class CommandRejectedError(BB8Error):
    """The toy answered a command with an error code (v1 MRSP or v2 ERR other than 0x00)."""

    def __init__(self, command: str, mrsp: int, code_name: str | None = None) -> None:
        """Name the command and the toy's code (``code_name``: a v2 code's name; v1's is looked up)."""
        name = mrsp_name(mrsp) if code_name is None else code_name
        super().__init__(f"{command} was rejected by the toy: {name} (0x{mrsp:02x})")
        self.command = command
        self.mrsp = mrsp
        self.code_name = code_name
        """The v2 code's name (``bad_command_id``, ...); None for a v1 (MRSP) code, which
        numbers its errors otherwise."""


class IllegalTransitionError(BB8Error):
    """A state change the session's state machine does not allow (a bug, never expected)."""
