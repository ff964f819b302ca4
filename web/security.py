"""Response headers and the session secret."""

from __future__ import annotations

import logging
import os
import secrets

from flask import Response

def content_security_policy(style_hashes: tuple[str, ...] = ()) -> str:
    """The app's policy: its own files only. `style_hashes` ('sha256-...') admit exactly those inline
    stylesheets (the analysis report's own), so no other inline style can ever apply."""
    styles = " ".join(["'self'", *(f"'{digest}'" for digest in style_hashes)])
    return (
        f"default-src 'self'; img-src 'self' data:; style-src {styles}; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


CSP = content_security_policy()


def add_security_headers(response: Response) -> Response:
    """No inline script can run, nothing frames the page, browsers don't sniff types."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def secret_key(logger: logging.Logger) -> str:
    """From BLURFUSE_SECRET_KEY or SECRET_KEY; otherwise a random one (forms break across restarts)."""
    for name in ("BLURFUSE_SECRET_KEY", "SECRET_KEY"):
        if os.environ.get(name):
            return os.environ[name]
    logger.warning("no SECRET_KEY in the environment: using a random key for this start "
                   "(set BLURFUSE_SECRET_KEY to keep forms valid across restarts)")
    return secrets.token_hex(32)
