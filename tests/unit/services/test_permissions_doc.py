"""docs/permissions.md shows exactly the permissions the services enforce."""

from __future__ import annotations

from pathlib import Path

from desktop_crm.services.roles import PERMISSIONS, ROLES, SERVICE_ROLE

DOC = Path(__file__).resolve().parents[3] / "docs" / "permissions.md"


def test_every_permission_row_matches_the_code():
    columns = [*ROLES, SERVICE_ROLE]
    rows = {
        cells[0].strip("` "): cells[2 : 2 + len(columns)]
        for line in DOC.read_text().splitlines()
        if line.startswith("| `")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }

    assert set(rows) == set(PERMISSIONS)
    for permission, allowed in PERMISSIONS.items():
        shown = {c for c, cell in zip(columns, rows[permission], strict=True) if cell}
        assert shown == set(allowed), permission
