"""A QR code of a check-in link, as inline SVG (segno; no image service, no CDN), so a client
can open the link on their own phone in the room."""

from __future__ import annotations

import io

import segno


def qr_svg(url: str) -> str:
    """The SVG markup (no XML declaration) for ``url``: dark modules in currentColor on a
    white quiet zone, scaled by CSS. The link is private, so this is only ever rendered into
    the response that created it."""
    code = segno.make(url, error="m")
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        scale=4,
        border=4,
        dark="#000",
        light="#fff",
        title="QR code of the check-in link",
        svgclass="qr",
        lineclass=None,
        omitsize=True,
    )
    return out.getvalue().decode()
