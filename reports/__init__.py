"""Reports people read: the energy audit and the 合同能源管理 settlement statement, as HTML and
PDF, with their charts. Chinese by default, English on request.

The figures come from :mod:`jieneng.audit` and :mod:`jieneng.emc` as JSON-able dicts; this
package only lays them out. Charts are drawn by matplotlib into inline SVG (text as paths, so
the glyphs travel with the chart), pages by Jinja2 templates, PDF by WeasyPrint from the same
HTML.
"""

from reports.errors import ReportError

__all__ = ["ReportError"]
