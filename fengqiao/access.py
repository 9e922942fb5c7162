"""The access policy: roles and grants, each a set of permissions (``fengqiao/data/access.yaml``).

Plain domain logic shared by the gateway (which checks every request against it) and the CLI
(which refuses unknown roles). A caller holds roles and grants; its permissions are their union.
A grant (``pii_reader``) is only ever held on top of a role.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from fengqiao.settings import DEFAULT_ACCESS_POLICY


class UnknownRole(ValueError):
    """A role or grant name the policy does not define."""


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    permissions: frozenset[str]
    grant: bool = False  # held on top of a role, never alone


@dataclass(frozen=True)
class Policy:
    permissions: dict[str, str]  # permission → what it lets one do (Chinese)
    roles: dict[str, Role]  # roles and grants by name

    @classmethod
    def load(cls, path: Path | str = DEFAULT_ACCESS_POLICY) -> Policy:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        permissions = dict(raw["permissions"])
        roles = {}
        for section, grant in (("roles", False), ("grants", True)):
            for name, spec in (raw.get(section) or {}).items():
                unknown = set(spec["permissions"]) - permissions.keys()
                if unknown:
                    raise ValueError(f"{path}: {section}.{name} names unknown permissions {sorted(unknown)}")
                roles[name] = Role(name, spec["title"], frozenset(spec["permissions"]), grant)
        return cls(permissions, roles)

    def check_roles(self, names: Iterable[str]) -> tuple[str, ...]:
        """The names, refused if one is unknown or if only grants are given."""
        names = tuple(dict.fromkeys(names))
        unknown = [n for n in names if n not in self.roles]
        if unknown:
            raise UnknownRole(f"unknown role {', '.join(unknown)}; known: {', '.join(self.roles)}")
        if names and all(self.roles[n].grant for n in names):
            raise UnknownRole(f"{', '.join(names)} is a grant and needs a role beside it")
        if not names:
            raise UnknownRole("at least one role is required")
        return names

    def permissions_of(self, names: Iterable[str]) -> frozenset[str]:
        """What the roles and grants allow together; names the policy no longer knows allow nothing."""
        return frozenset().union(*(self.roles[n].permissions for n in names if n in self.roles))

    def table(self) -> str:
        """The role × permission table, as Markdown (docs/access.md)."""
        names = list(self.roles)
        lines = ["| permission | " + " | ".join(f"`{n}`" for n in names) + " |",
                 "|---|" + "---|" * len(names)]
        for permission, meaning in self.permissions.items():
            marks = " | ".join("✓" if permission in self.roles[n].permissions else "" for n in names)
            lines.append(f"| `{permission}` {meaning} | {marks} |")
        held_alone = {True: "（授权，须与角色同时持有）", False: ""}
        legend = [f"- `{n}`: {r.title}{held_alone[r.grant]}" for n, r in self.roles.items()]
        return "\n".join(lines) + "\n\n" + "\n".join(legend) + "\n"
