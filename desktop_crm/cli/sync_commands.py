"""`desktop-crm sync ...`: connect to a sync server, pair, join, sync (issue #7).

Output formats:

- `sync connect URL --fingerprint SHA256`: `connected: practice P, workstation W`
- `sync pair-code`: `pair-code: CODE` then `expires: YYYY-MM-DDTHH:MM:SSZ`
- `sync join --code-file FILE --admin NAME --new-pin-file FILE`:
  `joined: FOLDER, vault id V, pulled N`, then `totp-uri: ...` and
  `recovery-key: ...`
- `sync now`: `pushed: N, pulled: M, conflicts: C`
- `sync status`: `key: value` lines
- `sync revoke WORKSTATION`: `revoked: WORKSTATION`
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from desktop_crm.cli.commands import _run_unlocked, read_secret_file
from desktop_crm.platform import paths
from desktop_crm.services.session import Session
from desktop_crm.services.vault import VaultService


def cmd_connect(args: argparse.Namespace) -> int:
    from desktop_crm.services import sync_service

    code = None
    if args.registration_code_file:
        code = read_secret_file(args.registration_code_file, "--registration-code-file")

    def run(vault: VaultService, session: Session) -> None:
        done = sync_service.connect(
            vault, session, args.url, args.fingerprint, registration_code=code
        )
        print(
            f"connected: practice {done.practice_id}, workstation {done.workstation_id}"
        )

    return _run_unlocked(args, run)


def cmd_pair_code(args: argparse.Namespace) -> int:
    from desktop_crm.services import sync_service

    def run(vault: VaultService, session: Session) -> None:
        made = sync_service.pair_code(vault, session)
        print(f"pair-code: {made.code}")
        print(f"expires: {made.expires_at}")

    return _run_unlocked(args, run)


def cmd_join(args: argparse.Namespace) -> int:
    from pathlib import Path

    from desktop_crm.platform.secret_store import KeyringSecretStore
    from desktop_crm.services import sync_service

    code = read_secret_file(args.code_file, "--code-file")
    pin = read_secret_file(args.new_pin_file, "--new-pin-file")
    root = Path(paths.data_dir(getattr(args, "data_dir", None)))
    joined = sync_service.join(root, KeyringSecretStore(), code, args.admin, pin)
    session = joined.session
    try:
        print(f"joined: {root}, vault id {session.vault_id}, pulled {joined.pulled}")
        print(f"totp-uri: {joined.enrolment.uri}")
        print(f"recovery-key: {joined.recovery_key}")
    finally:
        session.lock("join-finished")
    return 0


def cmd_now(args: argparse.Namespace) -> int:
    from desktop_crm.services import sync_service

    def run(vault: VaultService, session: Session) -> None:
        result = sync_service.sync_now(vault, session)
        print(
            f"pushed: {result.pushed}, pulled: {result.pulled}, "
            f"conflicts: {result.conflicts}"
        )

    return _run_unlocked(args, run)


def cmd_status(args: argparse.Namespace) -> int:
    from desktop_crm.services import sync_service

    def run(vault: VaultService, session: Session) -> None:
        state = sync_service.status(session)
        if not state.connected:
            print("sync: not connected")
            return
        print(f"server: {state.url}")
        print(f"fingerprint: {state.fingerprint}")
        print(f"practice: {state.practice_id}")
        print(f"workstation: {state.workstation_id}")
        print(f"last sync: {state.last_sync_at or 'never'}")
        print(f"pending changes: {state.pending_changes}")
        print(f"open conflicts: {state.open_conflicts}")
        print(f"last error: {state.last_error or 'none'}")

    return _run_unlocked(args, run)


def cmd_rejoin(args: argparse.Namespace) -> int:
    from desktop_crm.services import sync_service

    code = read_secret_file(args.code_file, "--code-file")

    def run(vault: VaultService, session: Session) -> None:
        result = sync_service.rejoin(vault, session, code)
        state = sync_service.status(session)
        print(f"rejoined: workstation {state.workstation_id}")
        print(
            f"pushed: {result.pushed}, pulled: {result.pulled}, "
            f"conflicts: {result.conflicts}"
        )

    return _run_unlocked(args, run)


def cmd_revoke(args: argparse.Namespace) -> int:
    from desktop_crm.services import sync_service

    def run(vault: VaultService, session: Session) -> None:
        sync_service.revoke(vault, session, args.workstation)
        print(f"revoked: {args.workstation}")

    return _run_unlocked(args, run)


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add the `sync` group; ``command`` is main._command."""
    from desktop_crm.cli.main import _Parser

    group = sub.add_parser(
        "sync", help="end-to-end encrypted sync between workstations"
    ).add_subparsers(dest="sync_command", parser_class=_Parser, required=True)
    connect = command(group, "connect", cmd_connect, "connect to a sync server (admin)")
    connect.add_argument("url", help="https://HOST:PORT of the sync server")
    connect.add_argument(
        "--fingerprint",
        required=True,
        help="SHA-256 of the server certificate: 64 hex digits, colons allowed",
    )
    connect.add_argument(
        "--registration-code-file",
        metavar="FILE",
        help="the server operator's registration code, if the server asks for one",
    )
    command(group, "pair-code", cmd_pair_code, "make a one-use pairing code (admin)")
    join = command(
        group,
        "join",
        cmd_join,
        "join this workstation to a practice with a pairing code",
        unlock=False,
    )
    join.add_argument("--code-file", required=True, help="file holding the code")
    join.add_argument("--admin", required=True, help="the admin who joins")
    join.add_argument("--new-pin-file", required=True, help="their PIN here")
    rejoin = command(
        group,
        "rejoin",
        cmd_rejoin,
        "make a restored vault a new workstation of its practice (admin)",
    )
    rejoin.add_argument("--code-file", required=True, help="file holding the code")
    command(group, "now", cmd_now, "push and pull now")
    command(group, "status", cmd_status, "last sync, pending changes, conflicts")
    revoke = command(
        group, "revoke", cmd_revoke, "refuse a workstation from now on (admin)"
    )
    revoke.add_argument("workstation", help="the workstation id")
