"""The access policy file: roles, grants, and the generated table in docs/access.md."""
from pathlib import Path

import pytest

from fengqiao.access import Policy, UnknownRole

DOC = Path(__file__).parents[2] / "docs" / "access.md"


def test_every_role_of_the_issue_is_defined_with_permissions_the_policy_knows():
    policy = Policy.load()
    assert set(policy.roles) >= {"intake", "dispatcher", "handler", "mediator", "followup", "leader", "screen",
                                 "auditor", "agency", "admin", "pii_reader"}
    assert policy.roles["pii_reader"].grant and not policy.roles["leader"].grant
    assert "pii.read" not in policy.permissions_of(["admin", "leader"])
    assert policy.permissions_of(["screen"]) == {"stats.read"}
    assert not {"case.read", "case.assign"} & policy.permissions_of(["screen", "auditor", "agency"])


@pytest.mark.parametrize("roles, message", [(["sheriff"], "unknown role sheriff"),
                                             (["pii_reader"], "is a grant"), ([], "at least one role")])
def test_unknown_roles_and_lone_grants_are_refused(roles, message):
    with pytest.raises(UnknownRole, match=message):
        Policy.load().check_roles(roles)


def test_a_policy_naming_an_unknown_permission_does_not_load(tmp_path):
    bad = tmp_path / "access.yaml"
    bad.write_text("permissions: {case.read: 看}\nroles:\n  x: {title: X, permissions: [case.fly]}\n", "utf-8")
    with pytest.raises(ValueError, match="unknown permissions"):
        Policy.load(bad)


def test_docs_access_md_holds_the_current_table():
    assert DOC.read_text(encoding="utf-8").endswith(Policy.load().table()), \
        "docs/access.md is stale: regenerate its table with `fengqiao access table`"
