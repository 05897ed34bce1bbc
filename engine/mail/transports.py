"""How a message leaves: SMTP (with TLS or STARTTLS), or `.eml` files in a drop folder."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from engine.clock import Clock, SystemClock

if TYPE_CHECKING:
    from engine.mail.mailer import MailConfig


class Transport(Protocol):
    """Delivers one message or raises (`smtplib.SMTPException` or `OSError`)."""

    def send(self, message: EmailMessage) -> None:
        """Hand one message over for delivery (raises when it was refused)."""


@dataclass(frozen=True)
class SmtpTransport:
    """SMTP per `PATHFINDER_SMTP_URL`: `smtp://` (plain, or `?starttls=1`) or `smtps://` (TLS).

    `?verify=0` accepts a self-signed certificate; `?timeout=N` sets the socket timeout.
    """

    host: str
    port: int
    security: str = "none"
    """none | starttls | tls"""
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    verify: bool = True

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> SmtpTransport:
        """A transport for `smtp://` (optionally `?starttls=1`) or `smtps://` URLs."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"PATHFINDER_SMTP_URL must look like smtp://host:587, not {url!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        on = {"1", "true", "yes", "on"}
        if parts.scheme == "smtps":
            security = "tls"
        elif query.get("starttls", "").lower() in on or query.get("tls", "").lower() in on:
            security = "starttls"
        else:
            security = "none"
        return cls(
            host=parts.hostname,
            port=parts.port
            or (465 if security == "tls" else 587 if security == "starttls" else 25),
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=float(query.get("timeout", timeout)),
            verify=query.get("verify", "1").lower() in on,
        )

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def send(self, message: EmailMessage) -> None:
        """Send one message over a new SMTP connection."""
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.security == "starttls":
                smtp.starttls(context=self._context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


@dataclass(frozen=True)
class DropDirTransport:
    """Development: each message becomes an `.eml` file in `folder` (listed on an admin page)."""

    folder: Path
    clock: Clock = field(default_factory=SystemClock)
    """Names the files by real time, so they sort in the order they were written."""

    def send(self, message: EmailMessage) -> None:
        """Write the message to a new `.eml` file in `folder`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%S%f")
        ident = str(message.get("X-Pathfinder-Outbox-Id", "0"))
        path = self.folder / f"{stamp}-{ident}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(message))
        tmp.replace(path)


def transport_for(config: MailConfig) -> Transport:
    """SMTP when `smtp_url` is set, else the `.eml` drop folder."""
    if config.smtp_url:
        return SmtpTransport.from_url(config.smtp_url, config.smtp_timeout)
    return DropDirTransport(config.drop_dir, config.lease_clock)


def mail_files(folder: Path, limit: int = 200) -> list[Path]:
    """The newest `.eml` files of the drop folder, newest first."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.eml"), key=lambda p: p.name, reverse=True)[:limit]
