"""Optional public URL through ngrok (pyngrok).

The auth token comes only from the NGROK_AUTHTOKEN environment variable, never from the command
line (shell history, process lists) or a file in the repo. Any failure is reported and the local
server keeps running: a public URL is a convenience, not a requirement.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def open_tunnel(port: int, basic_auth: str | None = None) -> str | None:
    """Open an HTTP tunnel to `port`; return its public URL, or None (with a logged reason)."""
    token = os.environ.get("NGROK_AUTHTOKEN")
    if not token:
        log.warning("ngrok: NGROK_AUTHTOKEN is not set; serving locally only (get a token at https://dashboard.ngrok.com)")
        return None
    if basic_auth is None:
        log.warning("ngrok: the public URL has no password; consider --basic-auth user:pass")
    try:
        from pyngrok import ngrok

        ngrok.set_auth_token(token)
        options = {"auth": basic_auth} if basic_auth else {}
        tunnel = ngrok.connect(addr=str(port), proto="http", **options)
    except Exception as error:  # pyngrok raises several types (install, network, API errors)
        log.warning("ngrok: could not open a tunnel (%s); serving locally only", error)
        return None
    return tunnel.public_url


def check_basic_auth(value: str) -> str:
    """user:pass, with a password long enough that ngrok accepts it (8-128 characters)."""
    user, sep, password = value.partition(":")
    if not sep or not user or not 8 <= len(password) <= 128:
        raise ValueError("--basic-auth must be user:pass with a password of 8 to 128 characters")
    return value
