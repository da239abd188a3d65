"""The GOV.UK layer: a clear error without the built assets, and the layout every page extends."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from onedoor import govuk
from onedoor.errors import Unavailable


def test_missing_assets_say_run_make_assets(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as missing:
        govuk.mount_assets(FastAPI(), tmp_path)
    assert missing.value.code == "web.assets_missing"
    assert "run `make assets`" in missing.value.message


def test_the_layout_is_a_govuk_page(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(
        '{% extends "onedoor/base.html" %}{% block content %}<p id="body">{{ text }}</p>{% endblock %}'
    )
    html = (
        govuk.environment([tmp_path])
        .get_template("page.html")
        .render(page_title="A page", csp_nonce="n0nce", text="<b>escaped</b>", scripts=["/x.js"])
    )
    assert '<html lang="en-GB"' in html
    assert "<title>A page \u2013 OneDoor</title>" in html  # an en dash, as GOV.UK titles use
    assert "govuk-skip-link" in html
    assert "OneDoor" in html
    assert "Synthetic data only" in html
    assert "govuk-footer" in html
    assert '<script nonce="n0nce">' in html  # GOV.UK's one-line js-enabled switch, allowed by the CSP nonce
    assert '<script type="module" src="/x.js"></script>' in html
    assert "&lt;b&gt;escaped&lt;/b&gt;" in html
    # Not a GOV.UK service: no crown, coat of arms or Open Government Licence mark, and our own
    # stylesheet replaces the GDS Transport typeface (reserved for GOV.UK) with Arial.
    assert "/onedoor-brand.css" in html
    for reserved in ("govuk-header__logotype", "govuk-footer__crown", "govuk-footer__copyright-logo", "licence-logo"):
        assert reserved not in html, reserved


def test_the_brand_stylesheet_replaces_the_govuk_typeface() -> None:
    css = (Path(govuk.__file__).parent / "brand.css").read_text()
    assert "font-family: arial, sans-serif !important" in css


def test_the_policy_allows_only_our_own_scripts() -> None:
    policy = govuk.content_security_policy("abc")
    assert "script-src 'self' 'nonce-abc'" in policy
    assert "unsafe-inline" not in policy
    assert "form-action 'self'" in policy
