"""HTML from the templates, PDF from the HTML (WeasyPrint)."""

from __future__ import annotations

import datetime as dt
import functools
import math
import warnings
from pathlib import Path
from typing import Any

from reports.errors import ReportError
from reports.fonts import cjk_family, font_file

FORMATS = ("json", "html", "pdf")


@functools.cache
def _env() -> Any:
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "css"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = num
    env.filters["pct"] = pct
    env.filters["svg"] = Markup  # the charts' SVG, drawn by reports.charts
    return env


def num(value: float | None, digits: int = 1) -> str:
    """1,234.5; '—' for no value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def pct(value: float | None, digits: int = 1, *, signed: bool = False) -> str:
    """A share as a percentage: 0.061 → 6.1 % (+6.1 % when ``signed``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value * 100:{'+' if signed else ''},.{digits}f} %"


def html(template: str, lang: str, **context: Any) -> str:
    """A report page: ``template`` from reports/templates with its context, the CJK font in
    its style sheet."""
    family = cjk_family()
    file = font_file()
    return (
        _env()
        .get_template(template)
        .render(
            lang=lang,
            font_family=family,
            font_url=Path(file).resolve().as_uri() if file else None,
            generated=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            **context,
        )
    )


def pdf(page: str) -> bytes:
    """The PDF of an HTML page (A4, the page's own @page rules)."""
    try:
        with warnings.catch_warnings():
            # WeasyPrint warns at import when HarfBuzz-Subset is absent (it works without).
            warnings.simplefilter("ignore", DeprecationWarning)
            import weasyprint
    except OSError as exc:  # Pango missing: WeasyPrint cannot load its libraries
        raise ReportError(
            "PDF 需要 Pango 库 / PDF reports need Pango (Debian/Ubuntu: apt install"
            f" libpango-1.0-0 libpangoft2-1.0-0): {exc}"
        ) from None
    return weasyprint.HTML(string=page, base_url=".").write_pdf()
