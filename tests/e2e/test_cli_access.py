"""`desktop-crm user role/deactivate/reset-totp/unlock/enrol` and `break-glass`."""

from __future__ import annotations

import re

import pytest
from support.cli_harness import CLI, PIN, secret_of

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

ADMIN = "Ana Admin"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
REASON = "Patient phoned in distress, need the full record"


@pytest.fixture
def admin(cli: CLI):
    """Run a command as the admin: a full unlock first, then quick re-unlocks."""
    secret, _ = cli.init()
    first = [True]

    def run(*args: str):
        otp = cli.code(secret) if first[0] else None
        first[0] = False
        return cli.as_user(ADMIN, PIN, otp, *args)

    return run


def _add_user(cli: CLI, admin, name: str, roles: str, pin: str) -> str:
    result = admin(
        "user", "add", "--name", name, "--role", roles,
        "--new-pin-file", cli.file(f"{name}.new", pin),
    )  # fmt: skip
    assert result.code == 0, result.err
    return secret_of(result.line("totp-uri:"))


def test_role_deactivate_and_refusals(cli: CLI, admin):
    bo_secret = _add_user(cli, admin, "Bo Desk", "front-desk", "246802")

    changed = admin("user", "role", "Bo Desk", "--set", "biller,auditor")
    bad_role = admin("user", "role", "Bo Desk", "--set", "nurse")
    last_admin = admin("user", "role", ADMIN, "--set", "provider")
    bo = cli.as_user("Bo Desk", "246802", cli.code(bo_secret), "user", "unlock", ADMIN)

    assert changed.code == 0, changed.err
    assert "biller,auditor" in changed.out
    assert bad_role.code == 1 and "role: unknown role 'nurse'" in bad_role.err
    assert last_admin.code == 1 and "role: the last active admin" in last_admin.err
    assert bo.code == 6 and "users.manage" in bo.err

    deactivated = admin("user", "deactivate", "Bo Desk")
    again = admin("user", "deactivate", "Bo Desk")
    myself = admin("user", "deactivate", ADMIN)
    refused = cli.as_user("Bo Desk", "246802", cli.code(bo_secret), "status")

    assert deactivated.code == 0, deactivated.err
    assert "desktop-crm rekey" in deactivated.err
    assert again.code == 1 and "already deactivated" in again.err
    assert myself.code == 1 and "yourself" in myself.err
    assert refused.code == 3
    assert admin("rekey").code == 0


def test_unlock_and_reset_totp(cli: CLI, admin):
    bo_secret = _add_user(cli, admin, "Bo Desk", "front-desk", "246802")
    for _ in range(5):
        cli.as_user("Bo Desk", "975319", None, "status")
    locked = cli.as_user("Bo Desk", "246802", cli.code(bo_secret), "status")
    cleared = admin("user", "unlock", "Bo Desk")
    works = cli.as_user("Bo Desk", "246802", cli.code(bo_secret), "status")

    assert locked.code == 4
    assert cleared.code == 0 and "was locked out" in cleared.out
    assert works.code == 0, works.err

    reset = admin("user", "reset-totp", "Bo Desk")
    old_code = cli.as_user("Bo Desk", "246802", cli.code(bo_secret), "status")
    enrol = cli.as_user("Bo Desk", "246802", None, "user", "enrol")
    new_secret = secret_of(enrol.line("totp-uri:"))
    fresh = cli.as_user("Bo Desk", "246802", cli.code(new_secret), "status")

    assert reset.code == 0, reset.err
    assert old_code.code == 3 and "user enrol" in old_code.err
    assert enrol.code == 0, enrol.err
    assert new_secret != bo_secret
    assert fresh.code == 0, fresh.err


def test_break_glass_open_list_review(cli: CLI, admin):
    added = admin("patients", "add", "--family", "Glass", "--given", "Bree")
    assert added.code == 0, added.err
    patient = added.out.strip()
    cy_secret = _add_user(cli, admin, "Cy Bill", "biller", "864208")
    au_secret = _add_user(cli, admin, "Au Dit", "auditor", "975319")

    short = cli.as_user(
        "Cy Bill", "864208", cli.code(cy_secret),
        "break-glass", "open", patient, "--reason", "urgent",
    )  # fmt: skip
    opened = cli.as_user(
        "Cy Bill", "864208", None, "break-glass", "open", patient, "--reason", REASON
    )
    auditor = cli.as_user(
        "Au Dit", "975319", cli.code(au_secret),
        "break-glass", "open", patient, "--reason", REASON,
    )  # fmt: skip
    not_admin = cli.as_user("Cy Bill", "864208", None, "break-glass", "list")

    assert short.code == 1 and "reason:" in short.err
    assert opened.code == 0, opened.err
    grant = opened.line("break-glass:")
    assert re.fullmatch(UUID, grant)
    assert opened.line("until:").endswith("Z")
    assert auditor.code == 6 and "patients.read" in auditor.err
    assert not_admin.code == 6 and "break_glass.review" in not_admin.err

    listed = admin("break-glass", "list")
    assert listed.code == 0, listed.err
    assert "break-glass access await your review" in listed.err
    [line] = listed.out.splitlines()
    assert line.startswith(grant) and "Cy Bill" in line and REASON in line

    reviewed = admin("break-glass", "review", grant)
    twice = admin("break-glass", "review", grant)
    after = admin("break-glass", "list")
    everything = admin("break-glass", "list", "--all")

    assert reviewed.code == 0, reviewed.err
    assert twice.code == 1 and "already reviewed" in twice.err
    assert after.out == "" and "await" not in after.err
    assert "reviewed by Ana Admin" in everything.out
