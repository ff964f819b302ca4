"""The analysis report, served so that it looks the same as opened from disk.

The report is one self-contained HTML file with an inline stylesheet; the app's policy allows no
inline style, so the report route sends a policy that admits exactly the report's own `<style>`
blocks by their SHA-256 hash (CSP level 2). Nothing else inline is admitted, and a report edited
after serving would lose its styles rather than gain new powers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from flask import Response

from web.security import content_security_policy

_STYLE_BLOCK = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


def style_hashes(html: str) -> tuple[str, ...]:
    """CSP source expressions ('sha256-<base64>') of every inline <style> block, in order."""
    return tuple("sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
                 for body in _STYLE_BLOCK.findall(html))


def report_response(index: Path) -> Response:
    """index.html with a policy admitting its own stylesheet; never cached, since a new report may replace it."""
    html = index.read_text(encoding="utf-8")
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = content_security_policy(style_hashes(html))
    response.headers["Cache-Control"] = "no-cache"
    return response
