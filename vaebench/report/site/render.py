"""One HTML page: a fixed shell, the data as embedded JSON, the shipped script and style."""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path
from typing import Any

from vaebench.store import atomic_write_text

ASSETS = ("vaebench.css", "vaebench.js")

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{style}
</head>
<body>
<noscript>This page draws its table with JavaScript; table.md and table.csv beside it hold the same numbers.</noscript>
<main id="app"></main>
<script type="application/json" id="vaebench-data">{data}</script>
{script}
</body>
</html>
"""


def asset_text(name: str) -> str:
    return resources.files("vaebench.report.site").joinpath("static", name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """JSON that cannot end its <script> block early: '<' is escaped as \\u003c (still valid JSON)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")


def write_page(data: dict[str, Any], path: Path, inline: bool) -> Path:
    """Writes the page to path; with inline False the assets go to path's folder/assets/."""
    path = Path(path)
    if inline:
        style = f"<style>\n{asset_text('vaebench.css')}</style>"
        script = f"<script>\n{asset_text('vaebench.js')}</script>"
    else:
        for name in ASSETS:
            atomic_write_text(path.parent / "assets" / name, asset_text(name))
        style = '<link rel="stylesheet" href="assets/vaebench.css">'
        script = '<script src="assets/vaebench.js"></script>'
    page = _SHELL.format(title=html.escape(data.get("title", "vaebench")), style=style, script=script, data=embed_json(data))
    atomic_write_text(path, page)
    return path
