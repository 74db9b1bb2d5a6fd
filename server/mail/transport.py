"""Where outgoing email goes: an SMTP server (aiosmtplib), or .eml files in a directory (the
default when no SMTP server is configured, so a developer can read what would have been sent).

A transport raises `Permanent` for a refusal a retry cannot change (the server answered 5xx to
this recipient or this message) and `Temporary` for anything else that failed: 4xx answers, an
unreachable server, a timeout, and also a login or TLS failure, which is the operator's to fix
(the email waits for the next attempt instead of being dropped).
"""

from __future__ import annotations

import asyncio
import os
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from server.mail.rules import permanent


class Temporary(Exception):
    pass


class Permanent(Exception):
    pass


class Transport(Protocol):
    name: str

    async def send(self, message: EmailMessage, file_name: str) -> None: ...


class SmtpTransport:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None,
        password: str | None,
        starttls: bool,
        ssl: bool,
        timeout: float,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        # Implicit TLS (port 465) has no STARTTLS step.
        self._starttls = starttls and not ssl
        self._ssl = ssl
        self._timeout = timeout

    async def send(self, message: EmailMessage, file_name: str) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._ssl,
                start_tls=self._starttls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            error = f"recipient refused: {' '.join(str(c) for c in codes)}"
            if codes and all(permanent(c) for c in codes):
                raise Permanent(error) from None
            raise Temporary(error) from None
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            error = f"{type(exc).__name__} {exc.code}: {exc.message}"
            if permanent(exc.code):
                raise Permanent(error) from None
            raise Temporary(error) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise Temporary(f"{type(exc).__name__}: {exc}") from None


class FileTransport:
    """Each email as DATA_DIR/outbox/<outbox id>-<kind>.eml, written whole then renamed."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage, file_name: str) -> None:
        try:
            await asyncio.to_thread(self._write, bytes(message), file_name)
        except OSError as exc:
            raise Temporary(f"{type(exc).__name__}: {exc}") from None

    def _write(self, raw: bytes, file_name: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / file_name
        tmp = path.with_name(f".{file_name}.{os.getpid()}.tmp")
        tmp.write_bytes(raw)
        tmp.replace(path)
