"""`desktop-crm server run`: the sync server (issue #7, docs/admin-guide.md).

    desktop-crm server run --listen HOST:PORT --cert FILE --key FILE
                           [--database postgresql://...] [--data-dir DIR]

Prints `listening on https://HOST:PORT` once it accepts connections and runs
until SIGINT or SIGTERM.  Access log lines (JSON, no bodies) go to stderr.
The server modules load only when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop_crm.errors import CRMError, UsageError

SERVER_APP = "desktop-crm-server"


def register(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    command: Callable[..., argparse.ArgumentParser],
) -> None:
    """Add `server run`; ``command`` is main._command."""
    parser_class = type(sub._name_parser_map.get("init", argparse.ArgumentParser()))
    server = sub.add_parser("server", help="the sync server").add_subparsers(
        dest="server_command", parser_class=parser_class, required=True
    )
    run = command(
        server,
        "run",
        cmd_run,
        "run the sync server until interrupted (SIGINT/SIGTERM)",
        unlock=False,
    )
    run.add_argument("--listen", required=True, help="HOST:PORT to listen on")
    run.add_argument("--cert", required=True, help="TLS certificate chain (PEM)")
    run.add_argument("--key", required=True, help="TLS private key (PEM)")
    run.add_argument(
        "--database",
        help="postgresql://... (default: SQLite in the server's data folder)",
    )
    run.add_argument(
        "--registration-code-file",
        metavar="FILE",
        help="only workstations giving the code in FILE may create a practice "
        "(default: anyone who can reach the server may)",
    )
    run.add_argument(
        "--quota-mb",
        type=int,
        metavar="N",
        help="storage each practice may use, in MiB of ciphertext (default: none)",
    )


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError("--listen: expected HOST:PORT, for example 0.0.0.0:8443")
    return host, int(port)


def server_data_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(SERVER_APP, appauthor=False))


def _setup_access_log() -> None:
    logger = logging.getLogger("desktop_crm.sync.server")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    from desktop_crm.sync.server import open_store, tls_context
    from desktop_crm.sync.server.store import StoreUnavailable

    for option, path in (("--cert", args.cert), ("--key", args.key)):
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise CRMError(f"{option}: cannot read {path} ({exc.strerror})") from None
    try:
        context = tls_context(args.cert, args.key)
    except (OSError, ssl.SSLError):
        raise CRMError(
            f"--cert/--key: {args.cert} and {args.key} are not a PEM certificate "
            "chain and its matching private key"
        ) from None
    folder = server_data_dir(getattr(args, "data_dir", None))
    try:
        store = open_store(args.database, folder)
    except ValueError as exc:
        raise UsageError(f"--database: {exc}") from None
    except StoreUnavailable:
        raise CRMError("--database: the database cannot be reached") from None
    except OSError as exc:
        raise CRMError(
            f"--data-dir: cannot keep the server's data in {folder} "
            f"({exc.strerror or type(exc).__name__})"
        ) from None
    return context, store


MIN_REGISTRATION_CODE = 12


def server_config(path: str | None, quota_mb: int | None = None) -> Any:
    """The server's limits: the registration code in ``path`` and the
    per-practice quota, when given."""
    from desktop_crm.sync.server import ServerConfig
    from desktop_crm.sync.server.api import registration_hash

    if quota_mb is not None and not 1 <= quota_mb <= 1 << 30:
        raise UsageError("--quota-mb: expected a whole number of MiB, 1 or more")
    quota = None if quota_mb is None else quota_mb * 1024 * 1024
    if path is None:
        return ServerConfig(quota_bytes=quota)
    try:
        code = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"--registration-code-file: cannot read {path} ({type(exc).__name__})"
        ) from None
    if len(code) < MIN_REGISTRATION_CODE:
        raise UsageError(
            f"--registration-code-file: the code must be at least "
            f"{MIN_REGISTRATION_CODE} characters"
        )
    return ServerConfig(registration=registration_hash(code), quota_bytes=quota)


def cmd_run(args: argparse.Namespace) -> int:
    from desktop_crm.sync.server import SyncServer

    host, port = parse_listen(args.listen)
    config = server_config(args.registration_code_file, args.quota_mb)
    context, store = _open(args)
    try:
        try:
            server = SyncServer((host, port), context, store, config)
        except OSError as exc:
            raise CRMError(
                f"--listen: cannot listen on {args.listen} ({exc.strerror})"
            ) from None
        _setup_access_log()
        _serve(server, host)
    finally:
        store.close()
    return 0


def _serve(server: Any, host: str) -> None:
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on https://{shown}:{server.port}", flush=True)
    if server.config.registration is None:
        print("registration: open (any workstation may create a practice)", flush=True)
    else:
        print("registration: needs the code (--registration-code-file)", flush=True)
    try:
        while not stop.wait(0.5):
            if not thread.is_alive():
                break
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", flush=True)
