"""The CJK font the charts and pages are set in.

Chinese text must render as glyphs, never as boxes: a report refuses to draw without a font
that covers CJK (Debian: ``apt install fonts-noto-cjk`` or ``fonts-wqy-microhei``), or the file
named by ``JIENENG_REPORT_FONT``.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from reports.errors import ReportError

#: Families tried in order: Noto/Source Han first (the most complete), then the small
#: WenQuanYi fonts Debian ships, then the fonts of desktop systems.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
)
#: A character every Chinese report uses: a font that lacks it is no CJK font.
_PROBE = "能"


@functools.cache
def cjk_family() -> str:
    """The family name of the CJK font to use, registered with matplotlib.

    Raises
    ------
    ReportError
        No installed font covers Chinese and ``JIENENG_REPORT_FONT`` names none.
    """
    from matplotlib import font_manager, ft2font

    path = os.environ.get("JIENENG_REPORT_FONT")
    if path:
        file = Path(path)
        if not file.is_file():
            raise ReportError(f"JIENENG_REPORT_FONT: {path!r} is not a font file")
        font_manager.fontManager.addfont(str(file))
        family = font_manager.FontProperties(fname=str(file)).get_name()
        if not _covers(ft2font.FT2Font(str(file))):
            raise ReportError(f"JIENENG_REPORT_FONT: {path!r} ({family}) has no Chinese glyphs")
        return family
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in installed:
            return family
    # Installed after matplotlib cached its font list: ask fontconfig.
    for file in _fontconfig_files():
        font_manager.fontManager.addfont(file)
        return str(font_manager.FontProperties(fname=file).get_name())
    raise ReportError(
        "报告需要中文字体 / reports need a CJK font: none of "
        + ", ".join(CJK_FAMILIES)
        + " is installed. Install one (Debian/Ubuntu: apt install fonts-noto-cjk, or"
        " fonts-wqy-microhei) or set JIENENG_REPORT_FONT to a .ttf/.otf/.ttc file."
    )


def font_file() -> str | None:
    """The file of :func:`cjk_family` when it was given by ``JIENENG_REPORT_FONT`` (pages then
    load it with ``@font-face``); None when fontconfig finds it by name."""
    return os.environ.get("JIENENG_REPORT_FONT") or None


def _fontconfig_files() -> list[str]:
    """Files of installed fonts that cover Chinese, as fontconfig lists them."""
    try:
        out = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = [line.split(":")[0].strip() for line in out.splitlines() if line.strip()]
    return sorted(f for f in files if f.endswith((".ttf", ".ttc", ".otf")))


def _covers(font: object) -> bool:
    return bool(font.get_char_index(ord(_PROBE)))  # type: ignore[attr-defined]
