"""Handlers of the `desktop-crm` subcommands."""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys
from typing import TYPE_CHECKING

from desktop_crm.errors import (
    CRMError,
    InvalidInput,
    TOTPRequired,
    UsageError,
    VaultError,
)
from desktop_crm.platform import paths
from desktop_crm.platform.secret_store import KeyringSecretStore
from desktop_crm.services.vault import VaultService

if TYPE_CHECKING:
    from desktop_crm.services.session import Session

# The service modules each command needs are imported inside it, so that
# starting the GUI (no subcommand) loads no more than the lock screen needs.


class PinChangeRequired(CRMError):
    """An admin reset this user: the temporary PIN must be replaced first."""

    def __init__(self) -> None:
        super().__init__(
            "your PIN was reset by an admin: set your own first with "
            "'desktop-crm user change-pin --new-pin-file FILE'"
        )


def version_text() -> str:
    """Versions of the product and its security-relevant parts (no vault needed)."""
    from desktop_crm.services.about import versions

    return "\n".join(versions().lines())


def _vault(args: argparse.Namespace) -> VaultService:
    return VaultService(
        paths.data_dir(getattr(args, "data_dir", None)), KeyringSecretStore
    )


MAX_SECRET_FILE = 4096


def read_secret_file(path: str, field: str) -> str:
    """Read a PIN or passphrase file, dropping exactly one trailing newline."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SECRET_FILE + 1)
        if len(raw) > MAX_SECRET_FILE:
            raise InvalidInput(field, f"{path} is larger than {MAX_SECRET_FILE} bytes")
        text = raw.decode("utf-8")
    except OSError as exc:
        raise InvalidInput(field, f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(field, f"{path} is not UTF-8 text") from exc
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _ask(prompt: str, *, secret: bool = False) -> str:
    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError:
        raise UsageError("input ended before it was complete") from None


def _pin(args: argparse.Namespace) -> str:
    if args.pin_file:
        return read_secret_file(args.pin_file, "--pin-file")
    if _interactive():
        return _ask("PIN: ", secret=True)
    raise UsageError("--pin-file is required (PINs are never taken as arguments)")


def unlock(
    args: argparse.Namespace, vault: VaultService, *, allow_pin_change: bool = False
) -> Session:
    """Open the vault as the command's options say."""
    from desktop_crm.services import keys

    if args.unattended:
        return keys.open_unattended(vault)
    name = args.user
    if not name:
        if not _interactive():
            raise UsageError("--user is required")
        name = _ask("User: ")
    pin = _pin(args)
    try:
        session = vault.unlock(name, pin, args.otp)
    except TOTPRequired:
        if not _interactive():
            raise
        session = vault.unlock(name, pin, _ask("TOTP code: "))
    if session.must_change_pin and not allow_pin_change:
        session.lock("pin-change-required")
        raise PinChangeRequired
    for notice in session.notices:
        print(f"notice: {notice}", file=sys.stderr)
    return session


def _run_unlocked(args: argparse.Namespace, action, **kw) -> int:  # type: ignore[no-untyped-def]
    vault = _vault(args)
    session = unlock(args, vault, **kw)
    try:
        return int(action(vault, session) or 0)
    finally:
        session.lock("command-finished")


def start_gui(args: argparse.Namespace) -> int:
    _check_display()
    vault = _vault(args)
    # The keyring is asked after the first screen is painted; without one the
    # window says Desktop CRM cannot start (and the lock screen says why).
    from desktop_crm.gui.app import run_gui  # Qt loads only here

    return run_gui(vault, self_test=args.self_test)


def _check_display() -> None:
    """Refuse early, in one line, when Qt would abort for lack of a screen."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise CRMError(
            "no display: start Desktop CRM from a desktop session (DISPLAY or "
            "WAYLAND_DISPLAY is not set); for a headless check use "
            "QT_QPA_PLATFORM=offscreen or xvfb-run"
        )
    display = os.environ.get("DISPLAY", "")
    if not os.environ.get("WAYLAND_DISPLAY") and not x_display_reachable(display):
        raise CRMError(
            f"no display: nothing answers on DISPLAY={display} (is the X server "
            "running?); for a headless check use QT_QPA_PLATFORM=offscreen or "
            "xvfb-run"
        )


def x_display_reachable(display: str) -> bool:
    """False only when a local X display (":N") certainly has no server.

    Qt aborts the process when it cannot connect; a local display's socket
    (a file, or Linux's abstract name) tells beforehand.  Remote or unusual
    DISPLAY values are left to Qt.
    """
    host, _, rest = display.partition(":")
    number = rest.split(".", 1)[0]
    if host not in ("", "unix") or not number.isdigit():
        return True
    path = f"/tmp/.X11-unix/X{number}"
    for address in (path, "\0" + path):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(2)
            try:
                probe.connect(address)
            except OSError:
                continue
            return True
    return False


def cmd_init(args: argparse.Namespace) -> int:
    zone = args.tz or _system_zone()
    pin = read_secret_file(args.pin_file, "--pin-file")
    created = _vault(args).create(args.practice, args.admin, pin, zone)
    created.session.lock("setup-finished")
    print(f"totp-uri: {created.enrolment.uri}")
    print(f"recovery-key: {created.recovery_key}")
    return 0


def _system_zone() -> str:
    try:
        import tzlocal

        return str(tzlocal.get_localzone_name() or "UTC")
    except Exception:  # tzlocal raises assorted errors on odd systems
        return "UTC"


def cmd_status(args: argparse.Namespace) -> int:
    from desktop_crm.services.status import vault_status

    def show(vault: VaultService, session: Session) -> None:
        s = vault_status(session, vault.secrets.backend_name())
        print(f"vault-id: {s.vault_id}")
        print(f"sqlcipher: {s.sqlcipher_version}")
        print(f"cipher: {s.cipher}, {s.hmac}, page size {s.page_size}, {s.openssl}")
        print(f"schema-version: {s.schema_version}")
        print(f"users: {s.users} ({s.active_users} active)")
        print(f"keyring: {s.keyring_backend}")

    return _run_unlocked(args, show)


def cmd_user_add(args: argparse.Namespace) -> int:
    from desktop_crm.services import users

    pin = read_secret_file(args.new_pin_file, "--new-pin-file")

    def add(vault: VaultService, session: Session) -> None:
        enrolment = users.add_user(vault, session, args.name, args.role, pin)
        print(f"totp-uri: {enrolment.uri}")

    return _run_unlocked(args, add)


def cmd_change_pin(args: argparse.Namespace) -> int:
    from desktop_crm.services import users

    pin = read_secret_file(args.new_pin_file, "--new-pin-file")

    def change(vault: VaultService, session: Session) -> None:
        enrolment = users.change_own_pin(vault, session, pin)
        if enrolment is not None:
            print(f"totp-uri: {enrolment.uri}")

    return _run_unlocked(args, change, allow_pin_change=True)


def cmd_user_reset(args: argparse.Namespace) -> int:
    from desktop_crm.services import users

    pin = read_secret_file(args.new_pin_file, "--new-pin-file")

    def reset(vault: VaultService, session: Session) -> None:
        enrolment = users.reset_user(vault, session, args.name, pin)
        if enrolment is None:
            # Approved on a joined workstation: the practice's shared secret.
            print("totp: unchanged (the user's existing authenticator entry)")
        else:
            print(f"totp-uri: {enrolment.uri}")

    return _run_unlocked(args, reset)


def cmd_recover(args: argparse.Namespace) -> int:
    text = read_secret_file(args.recovery_key_file, "--recovery-key-file")
    pin = read_secret_file(args.new_pin_file, "--new-pin-file")
    session, enrolment = _vault(args).recover(args.user, text, pin)
    session.lock("recovery-finished")
    print(f"totp-uri: {enrolment.uri}")
    return 0


def cmd_rekey(args: argparse.Namespace) -> int:
    from desktop_crm.services import keys

    def rekey(vault: VaultService, session: Session) -> None:
        keys.rotate_dek(vault, session)
        print("rekey: done")

    return _run_unlocked(args, rekey)


def cmd_recovery_new(args: argparse.Namespace) -> int:
    from desktop_crm.services import keys

    def new(vault: VaultService, session: Session) -> None:
        print(f"recovery-key: {keys.new_recovery_key(vault, session)}")

    return _run_unlocked(args, new)


def cmd_unattended_enable(args: argparse.Namespace) -> int:
    from desktop_crm.services import keys

    def enable(vault: VaultService, session: Session) -> None:
        keys.enable_unattended(vault, session)
        print(
            "unattended: enabled (anyone using this OS account can now open the vault)"
        )

    return _run_unlocked(args, enable)


def cmd_unattended_disable(args: argparse.Namespace) -> int:
    from desktop_crm.services import keys

    def disable(vault: VaultService, session: Session) -> None:
        keys.disable_unattended(vault, session)
        print("unattended: disabled")

    return _run_unlocked(args, disable)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from desktop_crm.storage import audit

    def verify(vault: VaultService, session: Session) -> None:
        if session.head_problem in ("missing", "damaged"):
            raise VaultError(
                f"audit head file was {session.head_problem} at unlock: entries cut "
                "off the end of the log cannot be ruled out"
            )
        count = audit.verify(session.database(), session.kept_head)
        # The search catalog is derived from the log: make it whole again.
        audit.catch_up(session.database(), full_check=True)
        print(f"audit: {count} entries, chain intact")

    return _run_unlocked(args, verify)


def cmd_check(args: argparse.Namespace) -> int:
    from desktop_crm.storage.database import integrity_problems

    def check(vault: VaultService, session: Session) -> int:
        problems = integrity_problems(session.database())
        if problems:
            for problem in problems[:20]:
                print(f"problem: {problem}", file=sys.stderr)
            print(f"vault: {len(problems)} problem(s) found", file=sys.stderr)
            return 1
        print("vault: every page and the database structure check out")
        return 0

    return _run_unlocked(args, check)
