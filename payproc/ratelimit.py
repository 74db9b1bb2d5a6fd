"""A token bucket per key: `rate` tokens a second, bursts of up to `rate`. Pure: the caller
passes the clock."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    rate: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """0 when a token was taken; otherwise the seconds until one is there."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass(slots=True)
class RateLimiter:
    rate: float
    buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)

    def take(self, route: str, key: str, now: float) -> float:
        bucket = self.buckets.get((route, key))
        if bucket is None:
            bucket = TokenBucket(self.rate, self.rate, self.rate, now)
            self.buckets[(route, key)] = bucket
        return bucket.take(now)
