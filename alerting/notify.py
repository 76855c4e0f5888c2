"""Sending a notification: a signed webhook, an e-mail, an MQTT message. Each raises
:class:`NotifyError` with a reason that names no secret; the engine retries with backoff.

Webhooks are signed like Stripe's and GitHub's: ``X-Jieneng-Timestamp`` (Unix seconds) and
``X-Jieneng-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the rule's
secret>``; a receiver recomputes it and refuses a stale timestamp (:func:`verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any

import orjson

#: Seconds a receiver should accept a signature for (replays after that are refused).
SIGNATURE_TOLERANCE_S = 300


class NotifyError(RuntimeError):
    """A notification that did not go through; the message is safe to store and log."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, signature: str, body: bytes, *, now: float | None = None
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - ts) > SIGNATURE_TOLERANCE_S:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def webhook(
    url: str, secret: str | None, payload: dict[str, Any], *, timeout: float = 10.0
) -> None:
    body = orjson.dumps(payload)
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "jieneng-alerts",
        "X-Jieneng-Timestamp": str(ts),
    }
    if secret:
        headers["X-Jieneng-Signature"] = sign(secret, ts, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only (CHECK)
            if not 200 <= response.status < 300:
                raise NotifyError(f"webhook answered {response.status}")
    except urllib.error.HTTPError as exc:
        raise NotifyError(f"webhook answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotifyError(f"webhook unreachable: {reason}") from None


def email(settings: Any, to: str, subject: str, text: str, *, timeout: float = 20.0) -> None:
    """One message through the configured SMTP server (``JIENENG_SMTP_*``)."""
    if not settings.smtp_host:
        raise NotifyError("no SMTP server configured (JIENENG_SMTP_HOST)")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError(
            f"SMTP: {type(exc).__name__}: {getattr(exc, 'smtp_code', '') or exc}"
        ) from None


def mqtt(settings: Any, topic: str, payload: dict[str, Any], *, timeout: float = 10.0) -> None:
    """One QoS 1 message on the broker the collector uses (retain off)."""
    import paho.mqtt.publish as publish

    auth = None
    if settings.broker_username:
        password = settings.broker_password.get_secret_value() if settings.broker_password else None
        auth = {"username": settings.broker_username, "password": password}
    try:
        publish.single(
            topic,
            orjson.dumps(payload),
            qos=1,
            hostname=settings.broker_host,
            port=settings.broker_port,
            client_id="",
            auth=auth,
            keepalive=int(timeout) + 5,
        )
    except (OSError, ValueError) as exc:
        raise NotifyError(f"MQTT: {type(exc).__name__}: {exc}") from None
