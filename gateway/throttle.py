"""Slowing down password guessing at the sign-in: after too many failures for one username (or
from one address) within a window, further attempts are refused with 429 until it passes.

Kept in each gateway process's memory: several replicas each allow as many, which still turns
guessing from thousands of tries a second into a handful a quarter of an hour.
"""
from __future__ import annotations

from collections import defaultdict, deque
from datetime import timedelta

from gateway.problems import Problem

WINDOW = timedelta(minutes=15)
PER_USERNAME = 5
PER_ADDRESS = 20


class SignInThrottle:
    def __init__(self, clock):
        self._clock = clock
        self._failures: dict[str, deque] = defaultdict(deque)

    def _recent(self, key: str) -> deque:
        failures, since = self._failures[key], self._clock.now() - WINDOW
        while failures and failures[0] < since:
            failures.popleft()
        return failures

    def check(self, username: str, address: str) -> None:
        for key, limit in ((f"user:{username}", PER_USERNAME), (f"address:{address}", PER_ADDRESS)):
            recent = self._recent(key)
            if len(recent) >= limit:
                wait = int((recent[0] + WINDOW - self._clock.now()).total_seconds()) + 1
                raise Problem(429, "too-many-sign-ins", "登录尝试过多，请稍后再试",
                              f"{len(recent)} failed sign-ins within {WINDOW.seconds // 60} minutes",
                              headers={"Retry-After": str(wait)}, retry_after_seconds=wait)

    def failed(self, username: str, address: str) -> None:
        now = self._clock.now()
        self._recent(f"user:{username}").append(now)
        self._recent(f"address:{address}").append(now)
