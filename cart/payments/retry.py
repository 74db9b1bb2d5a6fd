"""How long to wait before calling a processor again (pure).

A processor answers 429 when a caller is over its rate limit (a live processor's is about 25
requests a second per route) and may time out or drop a connection: the call is made again with
the same idempotency key, so it is the same call, after `Retry-After` when the processor gave
one, else after a doubling delay.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6  # calls in all, the first included
    first_delay_s: float = 0.1
    max_delay_s: float = 2.0
    max_retry_after_s: float = 5.0  # a longer Retry-After is cut to this

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """The wait before retry number `retry` (0 for the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        return min(self.first_delay_s * 2.0**retry, self.max_delay_s)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds only; a date is treated as absent)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
