"""GOV.UK Frontend for OneDoor's pages: the Jinja environment with its macros, and the ``/assets`` mount.

The macros come from ``govuk-frontend-jinja`` (a Python package); the CSS, JavaScript, fonts and
images from the ``govuk-frontend`` npm package, which ``make assets`` copies into ``static/``
(pinned in ``package-lock.json`` to the release those macros target). ``templates/onedoor/base.html``
is the page layout every OneDoor page extends: GOV.UK header "OneDoor", the "Synthetic data only"
phase banner, skip link, footer, ``lang="en-GB"``, and no inline script except GOV.UK's one-line
``js-enabled`` switch, which carries the per-response CSP nonce.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader
from starlette.staticfiles import StaticFiles

from onedoor.errors import Unavailable

STATIC_DIR: Final = Path(__file__).with_name("static")
"""Where ``make assets`` puts GOV.UK Frontend's built files (gitignored)."""
TEMPLATES_DIR: Final = Path(__file__).with_name("templates")
ASSETS_PATH: Final = "/assets"
"""URL path of the GOV.UK assets; GOV.UK Frontend's CSS refers to ``/assets/fonts/...``."""
REQUIRED: Final = ("govuk-frontend.min.css", "govuk-frontend.min.js", "fonts", "images")
ASSETS_MISSING: Final = "web.assets_missing"


def check_assets(directory: Path = STATIC_DIR) -> Path:
    """``directory`` if it holds GOV.UK Frontend's built files.

    Raises:
        Unavailable: ``web.assets_missing`` when ``make assets`` has not been run.
    """
    missing = [name for name in REQUIRED if not (directory / name).exists()]
    if missing:
        raise Unavailable(
            ASSETS_MISSING,
            f"GOV.UK Frontend assets are missing from {directory} ({', '.join(missing)}): run `make assets`",
        )
    return directory


def environment(template_dirs: Iterable[Path] = ()) -> Environment:
    """A Jinja environment: ``template_dirs`` first, then the OneDoor layout and the GOV.UK macros.

    Import components as ``govuk_frontend_jinja/components/<name>/macro.html``; extend
    ``onedoor/base.html`` for a page. Autoescaping is on for every template.
    """
    loader = ChoiceLoader(
        [
            *(FileSystemLoader(str(d)) for d in template_dirs),
            FileSystemLoader(str(TEMPLATES_DIR)),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    )
    env = Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.globals["asset_path"] = ASSETS_PATH
    return env


def mount_assets(app: FastAPI, directory: Path = STATIC_DIR) -> None:
    """Serve GOV.UK Frontend's files at ``/assets``.

    Raises:
        Unavailable: ``web.assets_missing`` when ``make assets`` has not been run.
    """
    app.mount(ASSETS_PATH, StaticFiles(directory=check_assets(directory)), name="govuk-assets")


def csp_nonce() -> str:
    """A fresh nonce for one response's Content-Security-Policy."""
    return secrets.token_urlsafe(16)


def content_security_policy(nonce: str) -> str:
    """A strict policy for a GOV.UK page: our own scripts, styles, fonts and images; forms post to us only."""
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def secure_headers(nonce: str | None = None) -> dict[str, str]:
    """The headers every OneDoor HTML page (and redirect) carries.

    The strict CSP for ``nonce`` (left out without one, e.g. on a redirect), no caching (a page
    may hold a case or a form), no ``Referer`` to another site (a progress link or session path
    must not leak), no framing and no MIME sniffing.
    """
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    if nonce is not None:
        headers["Content-Security-Policy"] = content_security_policy(nonce)
    return headers


__all__ = [
    "ASSETS_MISSING",
    "ASSETS_PATH",
    "STATIC_DIR",
    "check_assets",
    "content_security_policy",
    "csp_nonce",
    "environment",
    "mount_assets",
    "secure_headers",
]
