"""One plain HTML page, for the simulated services' web pages that a demo's browser opens."""

from __future__ import annotations

from html import escape

from aiohttp import web

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;max-width:48rem;color:#242424}"
    "dt{font-weight:600;float:left;clear:left;width:11rem}dd{margin:0 0 .4rem 11rem}"
    "pre{background:#f5f5f5;padding:1rem;white-space:pre-wrap}"
    ".note{color:#616161;font-size:.9rem}"
)


def html_page(
    note: str,
    title: str,
    facts: list[tuple[str, str]],
    log_lines: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    """A page: ``note`` (what simulates it), a heading, the facts as a definition list and, when
    given, the log lines. Every text is escaped."""
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    logs = (
        ""
        if log_lines is None
        else f"<h2>Logs</h2><pre id='logs'>{escape(chr(10).join(log_lines))}</pre>"
    )
    body = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{STYLE}</style></head><body><p class='note'>{escape(note)}</p>"
        f"<h1>{escape(title)}</h1><dl>{rows}</dl>{logs}</body></html>"
    )
    return web.Response(text=body, content_type="text/html", status=status)
