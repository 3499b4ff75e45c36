"""Sending e-mail over SMTP with TLS 1.2+ and a verified certificate, only.

STARTTLS (port 587) or implicit TLS (port 465); a server that offers no
TLS is refused before anything is sent, and so is one whose certificate does
not verify for its host name.  The password lives in the OS keyring.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from desktop_crm.errors import CRMError, InvalidInput
from desktop_crm.platform.secret_store import SecretStore
from desktop_crm.services.session import Session
from desktop_crm.storage.writepath import AuditEvent, Mutation

log = logging.getLogger(__name__)

HOST = "smtp.host"
PORT = "smtp.port"
MODE = "smtp.mode"
USERNAME = "smtp.username"
FROM = "smtp.from"
MODES = ("starttls", "tls")
TIMEOUT = 30.0


def password_name(vault_id: str) -> str:
    """The keyring entry holding the SMTP password of one vault."""
    return f"smtp-password-{vault_id}"


@dataclass(frozen=True)
class SMTPConfig:
    """Where and how to send; the password is read from the keyring."""

    host: str
    port: int
    mode: str
    username: str
    sender: str


class SMTPRefused(CRMError):
    """The server cannot be used safely, or refused the message."""


def load_config(session: Session) -> SMTPConfig:
    """The SMTP settings of the practice.

    Raises:
        SMTPRefused: no server set up yet.
    """
    host = session.setting(HOST, "")
    if not host:
        raise SMTPRefused("no SMTP server is set up for reminders")
    return SMTPConfig(
        host=host,
        port=int(session.setting(PORT, "587")),
        mode=session.setting(MODE, "starttls"),
        username=session.setting(USERNAME, ""),
        sender=session.setting(FROM, ""),
    )


def save_config(
    session: Session,
    config: SMTPConfig,
    secrets: SecretStore,
    password: str | None = None,
) -> None:
    """Store the SMTP settings (admin); the password goes to the keyring only."""
    session.require("settings.manage")
    if config.mode not in MODES:
        raise InvalidInput("SMTP mode", "choose 'starttls' or 'tls'")
    if not 0 < config.port < 65536:
        raise InvalidInput("SMTP port", "must be 1 to 65535")
    if not config.host or "@" not in config.sender:
        raise InvalidInput("SMTP", "give the server and the sender address")
    if password is not None:
        secrets.set(password_name(session.vault_id), password)
    values = {
        HOST: config.host,
        PORT: str(config.port),
        MODE: config.mode,
        USERNAME: config.username,
        FROM: config.sender,
    }
    session.write(
        AuditEvent("settings.change", "settings", "smtp"),
        [Mutation("settings", k, "upsert", {"value": v}) for k, v in values.items()],
    )


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """Certificate and host name verified, TLS 1.2 or newer."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _checked(context: ssl.SSLContext) -> ssl.SSLContext:
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        raise SMTPRefused("refusing an SMTP connection without certificate checks")
    if context.minimum_version < ssl.TLSVersion.TLSv1_2:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SMTPSender:
    """Sends one message per call, on a fresh connection."""

    def __init__(
        self,
        config: SMTPConfig,
        password: str | None,
        context_factory: Callable[[], ssl.SSLContext] = tls_context,
    ) -> None:
        if config.mode not in MODES:
            raise SMTPRefused("the SMTP mode must be 'starttls' or 'tls'")
        self.config = config
        self._password = password
        self._context_factory = context_factory

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``.

        Raises:
            SMTPRefused: no TLS, a certificate that does not verify, a failed
                login, or the server refused the message (the text says which).
        """
        context = _checked(self._context_factory())
        try:
            if self.config.mode == "tls":
                with smtplib.SMTP_SSL(
                    self.config.host, self.config.port, timeout=TIMEOUT, context=context
                ) as client:
                    self._deliver(client, message)
            else:
                with smtplib.SMTP(
                    self.config.host, self.config.port, timeout=TIMEOUT
                ) as client:
                    client.ehlo()
                    if not client.has_extn("starttls"):
                        raise SMTPRefused(
                            "the SMTP server offers no TLS (STARTTLS): not sending"
                        )
                    client.starttls(context=context)
                    client.ehlo()
                    self._deliver(client, message)
        except ssl.SSLCertVerificationError as exc:
            raise SMTPRefused(
                f"the SMTP server's certificate does not verify ({exc.verify_message})"
            ) from exc
        except ssl.SSLError as exc:
            raise SMTPRefused(
                f"TLS with the SMTP server failed ({exc.reason})"
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise SMTPRefused(
                "the SMTP server refused the login (SMTPAuthenticationError): "
                "check the user name and the password"
            ) from exc
        except smtplib.SMTPException as exc:
            raise SMTPRefused(f"the SMTP server refused: {type(exc).__name__}") from exc
        except OSError as exc:
            raise SMTPRefused(f"cannot reach the SMTP server ({exc.strerror})") from exc

    def _deliver(self, client: smtplib.SMTP, message: EmailMessage) -> None:
        if self.config.username:
            client.login(self.config.username, self._password or "")
        client.send_message(message)
