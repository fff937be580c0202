"""The respondent's chat page (`GET /i/{token}`): one HTML document with its
stylesheet and script inlined, allowed by a Content-Security-Policy that
names their SHA-256 hashes (nothing else runs, loads or is framed).

The page gets the study's title and locale and the link's token, nothing
else of the project; everything it does afterwards goes through the REST API
with the interview's session token (page.js).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import cache
from importlib import resources
from string import Template


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _source_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@cache
def _parts() -> tuple[Template, str, str, str]:
    style, script = _read("page.css"), _read("page.js")
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_source_hash(script)}",
            f"style-src {_source_hash(style)}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return Template(_read("page.html")), style, script, policy


def content_security_policy() -> str:
    """The page's policy: its own inline style and script, fetches to this origin."""
    return _parts()[3]


def render(title: str, locale: str, token: str) -> str:
    """The page for one link. The configuration block is JSON inside a
    non-executed script element: `<` is escaped so no value can close it."""
    template, style, script, _ = _parts()
    config = json.dumps({"token": token, "title": title, "locale": locale})
    return template.substitute(
        lang=html.escape(locale or "en"),
        title=html.escape(title),
        style=style,
        script=script,
        config=config.replace("<", "\\u003c"),
    )
