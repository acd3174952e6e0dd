"""The link's states and the moves between them that ``models.ALLOWED_TRANSITIONS`` allows.

``StateMachine`` holds the state and a version bumped on every move, and refuses a move the
table does not list; it tells nobody (``connection.Connection`` announces each move).
"""

from __future__ import annotations

from .errors import IllegalTransitionError
from .models import ALLOWED_TRANSITIONS, SessionState


class StateMachine:
    """One link's state, with a version bumped on every move.

    A completion carrying an older version is stale and must not act.
    """

    __slots__ = ("_name", "state", "version")

    def __init__(self, name: str) -> None:
        """Start disconnected, at version 0."""
        self._name = name
        self.state = SessionState.DISCONNECTED
        self.version = 0

    def move(self, new: SessionState, reason: str) -> bool:
        """Move to ``new``: False for a same-state move (nothing changes), True for a move made.

        Raises ``IllegalTransitionError`` for a move the table does not allow, changing nothing.
        """
        old = self.state
        if new is old:
            return False
        if new not in ALLOWED_TRANSITIONS[old]:
            raise IllegalTransitionError(f"{self._name}: {old} -> {new} is not allowed ({reason})")
        self.state = new
        self.version += 1
        return True
