"""Rendering the printable reports — the client progress report and the clinic outcome report:
one Jinja template each, as a page of the app, as a standalone HTML file and as a PDF. The web
routes and the CLI both call these functions.

The PDF is laid out by WeasyPrint (HTML and CSS paged media, through Debian's pango, in
process). It is given only the standalone document, whose stylesheet is inlined and whose
charts are inline SVG, and a URL fetcher that refuses every URL: making a report never
touches the network or the file system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment

from alliance.services.views import ClientReportView, ClinicOutcomesView, MeasureChange
from alliance.web.figures import Figure, timeline_figures
from alliance.web.templating import STATIC_DIR

TEMPLATE = "report_client.html"
CLINIC_TEMPLATE = "report_clinic.html"
STYLESHEET = "report.css"


@dataclass(frozen=True)
class Formula:
    key: str
    name: str
    text: str
    source: str


#: The formulas behind the report's numbers, each cited where a number uses it.
FORMULAS: tuple[Formula, ...] = (
    Formula(
        "sdiff",
        "Standard error of the difference",
        "S_diff = √2 · SD · √(1 − r)",
        "Jacobson & Truax 1991, J Consult Clin Psychol 59(1):12–19",
    ),
    Formula(
        "rci",
        "Reliable change index",
        "RCI = (x₂ − x₁) / S_diff; reliable when |RCI| > 1.96",
        "Jacobson & Truax 1991",
    ),
    Formula(
        "criterion",
        "Smallest reliable change",
        "1.96 · S_diff points",
        "Jacobson & Truax 1991",
    ),
    Formula(
        "cutoff",
        "Clinical significance",
        "baseline on the clinical side of the cut-off and latest on the functional side",
        "Jacobson & Truax 1991 (cut-offs a, b, c) or the instrument's published cut-off",
    ),
    Formula(
        "status",
        "Outcome",
        "recovered = reliable improvement and cut-off crossed; improved = reliable improvement"
        " only; deteriorated = reliable worsening; otherwise unchanged",
        "Jacobson & Truax 1991",
    ),
)


def _figures_by_key(view: ClientReportView) -> dict[str, Figure]:
    return {f.key: f for f in timeline_figures(view.timeline)}


def report_context(view: ClientReportView) -> dict[str, Any]:
    """What the template reads beside the view: the charts and the formulas."""
    measures: dict[str, MeasureChange] = {m.instrument_id: m for m in view.measures}
    return {
        "r": view,
        "t": view.timeline,
        "measures": measures,
        "figures": _figures_by_key(view),
        "formulas": FORMULAS,
    }


def filename(view: ClientReportView, suffix: str) -> str:
    """A download name that carries no client name (it may end up in a shared folder)."""
    day = view.generated_at.strftime("%Y-%m-%d")
    return f"progress-report-client-{view.timeline.client.id}-{day}.{suffix}"


def _standalone(env: Environment, template: str, context: dict[str, Any]) -> str:
    css = (STATIC_DIR / STYLESHEET).read_text(encoding="utf-8")
    return env.get_template(template).render(**context, standalone=True, report_css=css)


def report_html(env: Environment, view: ClientReportView) -> str:
    """The report as one standalone HTML document (stylesheet inlined, charts inline)."""
    return _standalone(env, TEMPLATE, report_context(view))


def report_pdf(env: Environment, view: ClientReportView) -> bytes:
    """The standalone report laid out as a PDF (A4) by WeasyPrint."""
    return _pdf(report_html(env, view))


def clinic_context(view: ClinicOutcomesView) -> dict[str, Any]:
    """What the clinic report's template reads: the view, its benchmarks by metric."""
    by_metric: dict[str, list[Any]] = {}
    for b in view.benchmarks:
        by_metric.setdefault(b.metric, []).append(b)
    return {"r": view, "benchmarks": by_metric}


def clinic_filename(view: ClinicOutcomesView, suffix: str) -> str:
    return f"clinic-outcomes-{view.start.isoformat()}-to-{view.end.isoformat()}.{suffix}"


def clinic_report_html(env: Environment, view: ClinicOutcomesView) -> str:
    """The clinic outcome report as one standalone HTML document."""
    return _standalone(env, CLINIC_TEMPLATE, clinic_context(view))


def clinic_report_pdf(env: Environment, view: ClinicOutcomesView) -> bytes:
    """The clinic outcome report laid out as a PDF (A4) by WeasyPrint."""
    return _pdf(clinic_report_html(env, view))


def _pdf(html: str) -> bytes:
    import weasyprint
    from weasyprint.urls import URLFetcher

    class _Offline(URLFetcher):  # type: ignore[misc]  # WeasyPrint ships no type hints
        """Refuses every URL: the document carries everything it shows."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"a report loads nothing from outside itself (asked for {url})")

    document = weasyprint.HTML(string=html, url_fetcher=_Offline())
    return bytes(document.write_pdf())
