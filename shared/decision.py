"""The one shape every domain transition returns: the state to save and the events it implies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")
E = TypeVar("E")


@dataclass(frozen=True)
class Decision(Generic[S, E]):
    """What a domain function decided: `state` as it must be saved, and the domain `events` it
    implies, in order; each service maps its events to wire messages in one place
    (`outgoing.py`). Nothing is to be written when `unchanged`."""

    state: S
    events: tuple[E, ...] = ()
    changed: bool = True

    @property
    def unchanged(self) -> bool:
        return not self.changed and not self.events
