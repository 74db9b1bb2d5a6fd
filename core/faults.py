"""Fault points: named places where a test makes the process die as a crash would (SIGKILL).

The code that owns a point declares it (a frozenset of names beside the code, say
`CHECKOUT_FAULT_POINTS`) and calls `faults.hit("name")` there. The settings arm some of them,
and refuse to unless the testing flag is set, so no production setting makes a node kill itself.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterable

log = logging.getLogger(__name__)


class Faults:
    """The armed fault points of this process; `hit` is free when nothing is armed."""

    def __init__(self, armed: Iterable[str] = (), known: Iterable[str] | None = None) -> None:
        self._armed = frozenset(armed)
        if known is not None:
            unknown = sorted(self._armed - frozenset(known))
            if unknown:
                raise ValueError(f"unknown fault points {unknown}; known: {sorted(known)}")

    @property
    def armed(self) -> frozenset[str]:
        return self._armed

    def hit(self, point: str) -> None:
        if point in self._armed:
            log.warning("fault point reached: killing this process", extra={"point": point})
            os.kill(os.getpid(), signal.SIGKILL)


NO_FAULTS = Faults()
