"""Allowed transitions of a lifecycle, and the refusal that names them. Plain logic.

A service checks every state change against its table before writing; an illegal one raises
``IllegalTransition``, which the gateway answers with 409 naming the current state and what
may happen next.
"""
from __future__ import annotations

from dataclasses import dataclass


class IllegalTransition(Exception):
    """``action`` is not allowed on ``subject`` in ``state``; ``allowed`` are the actions that are.

    The arguments are plain strings and lists so the exception crosses the RPC boundary intact.
    """

    def __init__(self, subject: str, state: str, action: str, allowed: list[str], rule: str = ""):
        super().__init__(subject, state, action, allowed, rule)
        self.subject, self.state, self.action, self.allowed, self.rule = subject, state, action, allowed, rule

    def __str__(self) -> str:
        allowed = "、".join(self.allowed) if self.allowed else "无"
        rule = f"（{self.rule}）" if self.rule else ""
        return f"{self.subject}当前状态为 {self.state}，不能执行 {self.action}{rule}；当前允许：{allowed}"


@dataclass(frozen=True)
class Lifecycle:
    """``transitions[state][action] = next state``; states with no entry are final."""

    subject: str
    transitions: dict[str, dict[str, str]]

    def allowed(self, state: str) -> list[str]:
        return sorted(self.transitions.get(state, {}))

    def next(self, state: str, action: str, rule: str = "") -> str:
        """The state after ``action``, or ``IllegalTransition``."""
        following = self.transitions.get(state, {}).get(action)
        if following is None:
            raise IllegalTransition(self.subject, state, action, self.allowed(state), rule)
        return following
