"""The briefing for a period as data, and its renderings: Markdown, HTML, CSV and the bar chart.

What Mozilla's maintainers bring to the CA/Browser Forum: the incidents open at some time in the
period (:mod:`core.aggregate`'s rule) counted per briefing category, with the total of distinct
incidents (one incident can count in several rows), the CAs and bugs of each row, the change from
the previous period (as many calendar months before, or of the same length), where the labels
come from (corrections, Bugzilla's tags, predictions, and how many predictions still wait for
review), and what is left out: incidents in no row, and bugs resolved as not incidents of their
own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifier import Taxonomy

from .aggregate import (
    DEFAULT_EXCLUDED_RESOLUTIONS,
    Briefing,
    Period,
    WindowRule,
    briefing,
    excluded_words,
    incidents,
    long_date,
)
from .ca_names import CANames
from .labels import LabelSource
from .tables import IncidentRow
from .text import markdown_text

TEMPLATES = Path(__file__).with_name("templates")

#: Where each label source's rows come from, in words.
SOURCE_WORDS = {LabelSource.CORRECTION.value: "Maintainers' corrections",
                LabelSource.BUGZILLA.value: "Mozilla's Bugzilla type tags",
                LabelSource.MODEL.value: "The model's predictions",
                LabelSource.NONE.value: "No label"}


@dataclass(frozen=True)
class ReportRow:
    """A briefing category in the period and in the previous one."""

    category: str
    incidents: int
    previous: int | None
    incident_ids: tuple[int, ...]
    ca_counts: dict[str, int]
    ca_ids: dict[str, tuple[int, ...]]
    sources: dict[str, int]
    previous_ids: tuple[int, ...] = ()

    @property
    def change(self) -> int | None:
        return None if self.previous is None else self.incidents - self.previous


@dataclass(frozen=True)
class BriefingReport:
    """The briefing of a period, beside the previous period (``Period.previous``)."""

    current: Briefing
    previous: Briefing | None
    rows: list[ReportRow]
    #: The newest change to a bug the store holds (Bugzilla's last_change_time): what the
    #: figures reflect. None for a store without one.
    as_of: datetime | None = None

    @property
    def as_of_line(self) -> str | None:
        """When the data is from, and whether the period runs past it (its counts can grow)."""
        if self.as_of is None:
            return None
        line = f"Data as of {long_date(self.as_of)}: the newest change to a bug in the store"
        if self.period.end > self.as_of:
            line += ("; the period ends after it, so its figures can still grow as incidents are "
                     "filed and synced")
        return line + "."

    @property
    def period(self) -> Period:
        return self.current.period

    @property
    def total(self) -> int:
        return self.current.total

    @property
    def previous_total(self) -> int | None:
        return self.previous.total if self.previous is not None else None

    @property
    def category_entries(self) -> int:
        return self.current.category_entries

    @property
    def several_types(self) -> int:
        """Incidents that count in more than one row."""
        return self.current.several_types

    @property
    def note(self) -> str | None:
        """Why the rows add up to more than the total, when they do."""
        if self.category_entries <= self.total:
            return None
        several = self.several_types
        return (f"The rows add up to {self.category_entries}, more than the "
                f"{incidents(self.total)}: {incidents(several)} "
                f"{'has' if several == 1 else 'have'} types of several categories and "
                f"{'counts' if several == 1 else 'count'} in each of {'its' if several == 1 else 'their'} rows.")

    @property
    def reconciliation(self) -> str:
        """How the rows, the total and the incidents in no row fit together."""
        return self.current.reconciliation

    @property
    def waiting_line(self) -> str:
        """How many of the predicted labels wait for review, in words."""
        predicted, waiting = self.current.sources.get(LabelSource.MODEL.value, 0), len(self.waiting_for_review)
        if not predicted:
            return "No label is a prediction, so none waits for a maintainer's review"
        return (f"{waiting} of the {predicted} predicted label{'' if predicted == 1 else 's'} "
                f"{'waits' if waiting == 1 else 'wait'} for a maintainer's review")

    @property
    def received_line(self) -> str:
        """The incidents counted from when the store received them, in words."""
        n = self.current.filed_when_received
        return (f"{incidents(n)} {'has' if n == 1 else 'have'} no filing time in the store and "
                f"{'counts' if n == 1 else 'count'} from when it was received")

    @property
    def chart_title(self) -> str:
        return chart_title(self.current)

    @property
    def all_ids(self) -> tuple[int, ...]:
        return tuple(self.current.incidents)

    @property
    def categorised_ids(self) -> tuple[int, ...]:
        return tuple(i for i, incident in self.current.incidents.items() if incident.categories)

    @property
    def source_ids(self) -> dict[str, tuple[int, ...]]:
        return {s.value: tuple(i for i, incident in self.current.incidents.items()
                               if incident.label.source is s) for s in LabelSource}

    @property
    def rule_ids(self) -> dict[str, tuple[int, ...]]:
        return {r.value: tuple(i for i, incident in self.current.incidents.items() if incident.rule is r)
                for r in WindowRule}

    @property
    def ca_ids(self) -> dict[str, tuple[int, ...]]:
        return _ids_by_ca(self.current, self.current.incidents)

    @property
    def waiting_for_review(self) -> tuple[int, ...]:
        return self.current.waiting_for_review

    @property
    def received_ids(self) -> tuple[int, ...]:
        return tuple(i for i, incident in self.current.incidents.items() if incident.filed_when_received)


def _ids_by_ca(table: Briefing, ids: Iterable[int]) -> dict[str, tuple[int, ...]]:
    by_ca: dict[str, list[int]] = {}
    for bug_id in ids:
        by_ca.setdefault(table.incidents[bug_id].ca, []).append(bug_id)
    return {ca: tuple(by_ca[ca]) for ca in sorted(by_ca, key=lambda ca: (-len(by_ca[ca]), ca.lower()))}


def build_report(*, session: Session, taxonomy: Taxonomy, period: Period, active_version: str | None,
                 excluded_resolutions: Sequence[str] = DEFAULT_EXCLUDED_RESOLUTIONS,
                 ca_names: CANames | None = None,
                 progress: Callable[[str], object] | None = None) -> BriefingReport:
    """The briefing of ``period`` and of the period before it (``Period.previous``).

    ``progress`` is told what is being counted (the CLI's status line).
    """
    def count(what: str, window: Period) -> Briefing:
        if progress is not None:
            progress(f"counting the incidents open between {window.words}{what}")
        return briefing(session=session, taxonomy=taxonomy, start=window.start, end=window.end,
                        active_version=active_version, excluded_resolutions=excluded_resolutions,
                        ca_names=ca_names)

    current = count("", period)
    earlier = period.previous()
    previous = count(" (the previous period)", earlier) if earlier is not None else None
    before = {r.category: r for r in previous.rows} if previous is not None else {}
    rows = [ReportRow(category=row.category, incidents=row.incidents,
                      previous=before[row.category].incidents if row.category in before else None,
                      incident_ids=row.incident_ids, ca_counts=row.ca_counts,
                      ca_ids=_ids_by_ca(current, row.incident_ids), sources=row.sources,
                      previous_ids=before[row.category].incident_ids if row.category in before else ())
            for row in current.rows]
    # A bug stored without its time of last change (a POST /classify) was changed when filed.
    times = session.execute(select(func.max(IncidentRow.last_change_time),
                                   func.max(IncidentRow.creation_time))).one()
    known = [t if t.tzinfo is not None else t.replace(tzinfo=UTC) for t in times if t is not None]
    return BriefingReport(current=current, previous=previous, rows=rows,
                          as_of=max(known) if known else None)


def chart_title(table: Briefing) -> str:
    """Mozilla's title of the briefing chart."""
    return f"Chart based on {table.total} open incidents between {table.period.words}"


# -- Markdown ---------------------------------------------------------------------------------
def _signed(change: int | None) -> str:
    if change is None:
        return "–"
    return f"+{change}" if change > 0 else str(change)


def _bug_links(ids: Sequence[int], bugzilla_url: str) -> str:
    """The bug ids, then one link to Bugzilla's list of them."""
    if not ids:
        return "none"
    return f"{', '.join(str(i) for i in ids)} ([in Bugzilla]({bugzilla_list_url(ids, bugzilla_url)}))"


def _row(*cells: object) -> str:
    """A row of a Markdown table, a ``|`` in a cell's text escaped so it stays in its cell."""
    return "| " + " | ".join(str(cell).replace("|", r"\|") for cell in cells) + " |"


def _cas_text(ca_counts: dict[str, int]) -> str:
    return ", ".join(f"{markdown_text(ca)} ({n})" for ca, n in ca_counts.items()) or "none"


def render_markdown(report: BriefingReport, *, bugzilla_url: str = "https://bugzilla.mozilla.org",
                    chart: str | None = None) -> str:
    """The report as Markdown; ``chart`` is the path or address of the chart image to show."""
    current, previous = report.current, report.previous
    earlier = previous.period.words if previous is not None else None
    lines = [f"# CA incident briefing: {report.period.span}", ""]
    lines.append(f"**{incidents(report.total)}** {'was' if report.total == 1 else 'were'} open at "
                 f"some time between {report.period.words}"
                 + (f" ({report.previous_total} between {earlier}, {report.period.previous_words}; "
                    f"change {_signed(report.total - report.previous_total)})."
                    if previous is not None and report.previous_total is not None else "."))
    lines.append("")
    if report.as_of_line:
        lines += [report.as_of_line, ""]
    if chart:
        lines += [f"![{report.chart_title}]({chart})", ""]
    lines += ["| Category | Incidents | Previous period | Change |", "|---|---:|---:|---:|"]
    for row in report.rows:
        lines.append(_row(row.category, row.incidents, "–" if row.previous is None else row.previous,
                          _signed(row.change)))
    lines.append(_row("**All incidents (distinct)**", f"**{report.total}**",
                      "–" if report.previous_total is None else report.previous_total,
                      _signed(None if report.previous_total is None else report.total - report.previous_total)))
    lines.append("")
    if report.note:
        lines += [f"Note: {report.note}", ""]
    lines += [report.reconciliation, ""]
    if any(row.incidents for row in report.rows):
        lines += ["## CAs and bugs per category", ""]
    for row in report.rows:
        if not row.incidents:
            continue
        lines += [f"### {row.category} ({row.incidents})", "",
                  f"- CAs: {_cas_text(row.ca_counts)}",
                  f"- Bugs: {_bug_links(row.incident_ids, bugzilla_url)}", ""]
    lines += ["## Where the labels come from", "", "| Source | Incidents |", "|---|---:|"]
    for source, n in current.sources.items():
        lines.append(_row(SOURCE_WORDS[source], n))
    waiting = report.waiting_for_review
    lines += ["", report.waiting_line + (f": {_bug_links(waiting, bugzilla_url)}." if waiting else "."),
              ""]
    lines += ["## Left out of the rows", "",
              f"- Uncategorised (no type of a briefing row): {current.uncategorised} — "
              f"{_bug_links(current.uncategorised_ids, bugzilla_url)}"]
    for resolution, ids in current.excluded_ids.items():
        lines.append(f"- Excluded, {excluded_words(resolution)} (not an incident of its own): "
                     f"{len(ids)} — {_bug_links(ids, bugzilla_url)}")
    if not current.excluded_ids:
        lines.append("- Excluded (resolved as not an incident of its own, or a tracking bug): 0")
    lines += ["", "## Incidents per CA", ""]
    if current.ca_counts:
        lines += ["| CA | Incidents |", "|---|---:|", *(_row(markdown_text(ca), n) for ca, n in current.ca_counts.items())]
    else:
        lines.append("None: no incident was open in the period.")
    lines += ["", "## How the incidents were placed in the period", "",
              "| Rule | Incidents | Meaning |", "|---|---:|---|"]
    lines += [_row(f"`{rule.value}`", current.rules[rule.value], rule.description) for rule in WindowRule]
    lines.append("")
    if current.filed_when_received:
        lines += [f"{report.received_line}: {_bug_links(report.received_ids, bugzilla_url)}.", ""]
    lines.append(f"Labels: correction, else Bugzilla's type tags, else a prediction ({current.predicted_by}).")
    return "\n".join(lines) + "\n"


# -- HTML -------------------------------------------------------------------------------------
#: Most ids the service's list of incidents (``GET /incidents?ids=``) takes.
MAX_LISTED = 1000


def incident_list_url(ids: Sequence[int], base: str = "/incidents") -> str | None:
    """The service's list of the incidents ``ids`` (HTML); None for more than it lists."""
    if len(ids) > MAX_LISTED:
        return None
    return f"{base}?{urlencode({'ids': ','.join(str(i) for i in ids), 'format': 'html'}, safe=',')}"


def bugzilla_list_url(ids: Sequence[int], bugzilla_url: str) -> str:
    """Bugzilla's own list of the bugs ``ids``."""
    return f"{bugzilla_url}/buglist.cgi?{urlencode({'bug_id': ','.join(str(i) for i in ids)}, safe=',')}"


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["signed"] = _signed
    return env


def render_page(template: str, **context: object) -> str:
    """One of this package's HTML templates (``templates/``) rendered with ``context``."""
    return _environment().get_template(template).render(**context)


def render_html(report: BriefingReport, *, list_url: Callable[[Sequence[int]], str | None],
                bugzilla_url: str = "https://bugzilla.mozilla.org", chart_src: str | None = None) -> str:
    """The report as an HTML page, every count a link to ``list_url`` of its incidents (a count
    whose ``list_url`` is None is not a link)."""
    return render_page("report.html", report=report, list_url=list_url, bugzilla_url=bugzilla_url,
                       chart_src=chart_src, rules=list(WindowRule), source_words=SOURCE_WORDS)


# -- CSV --------------------------------------------------------------------------------------
CSV_COLUMNS = ("period_start", "period_end", "kind", "row", "incidents", "previous", "change",
               "from_correction", "from_bugzilla", "from_model", "from_none", "waiting_for_review",
               "cas", "bug_ids")


def _source_counts(table: Briefing, ids: Iterable[int]) -> list[int]:
    sources = [table.incidents[i].label.source for i in ids]
    return [sum(s is source for s in sources) for source in LabelSource]


#: How a cell starts that a spreadsheet reads as a formula (OWASP's CSV injection list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """``value``, with a text cell a spreadsheet would run as a formula made text (a leading
    apostrophe): a CA name is what a bug's summary writes before its colon, and anyone can file
    one starting ``=HYPERLINK(...)``."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """``rows`` as CSV, every text cell made safe to open in a spreadsheet."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([spreadsheet_cell(c) for c in row] for row in rows)
    return out.getvalue()


def render_csv(report: BriefingReport) -> str:
    """The report as CSV: the categories, then the uncategorised, the distinct totals, the rows'
    sum and the excluded bugs, each with the period, the previous period's figure, the label
    sources and the bug ids, so that every total can be checked from the rows above it."""
    current, previous = report.current, report.previous
    rows: list[list[object]] = [list(CSV_COLUMNS)]
    stamp = [current.start.isoformat(), current.end.isoformat()]
    waiting = set(report.waiting_for_review)

    def write(kind: str, name: str, ids: Sequence[int], before: int | None, *, counted: bool = True,
              n: int | None = None, cas: str = "") -> None:
        count = len(ids) if n is None else n
        sources = _source_counts(current, ids) if counted else ["", "", "", ""]
        rows.append([*stamp, kind, name, count, "" if before is None else before,
                     "" if before is None else count - before, *sources,
                     sum(i in waiting for i in ids) if counted else "", cas,
                     " ".join(str(i) for i in ids)])

    for row in report.rows:
        write("category", row.category, row.incident_ids, row.previous,
              cas="; ".join(f"{ca} ({n})" for ca, n in row.ca_counts.items()))
    write("uncategorised", "Uncategorised", current.uncategorised_ids,
          previous.uncategorised if previous else None)
    write("categorised", "Categorised incidents (distinct)", report.categorised_ids,
          previous.total - previous.uncategorised if previous else None)
    write("total", "All incidents (distinct)", report.all_ids, previous.total if previous else None,
          cas="; ".join(f"{ca} ({n})" for ca, n in current.ca_counts.items()))
    entries = [i for row in report.rows for i in row.incident_ids]
    write("entries", "Category entries (sum of the category rows)", entries,
          previous.category_entries if previous else None)
    for resolution in sorted({*current.excluded_ids, *(previous.excluded_ids if previous else {})}):
        write("excluded", f"Excluded: {excluded_words(resolution)}", current.excluded_ids.get(resolution, ()),
              previous.excluded.get(resolution, 0) if previous else None, counted=False)
    excluded = [i for ids in current.excluded_ids.values() for i in ids]
    write("bugs", "Bugs open in the period (incidents and excluded)", [*report.all_ids, *excluded],
          previous.total + sum(previous.excluded.values()) if previous else None, counted=False)
    return csv_text(rows)


# -- the chart --------------------------------------------------------------------------------
ChartFormat = Literal["png", "svg"]
CHART_MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml"}


def render_chart(table: Briefing, fmt: ChartFormat = "png") -> bytes:
    """The briefing's bar chart: one horizontal bar a category with its count, titled "Chart based
    on N open incidents between <Month D, YYYY>, and <Month D, YYYY>" (Mozilla's wording)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    title = chart_title(table)
    categories = [row.category for row in table.rows]
    counts = [row.incidents for row in table.rows]
    figure = Figure(figsize=(10, 0.45 * max(len(categories), 4) + 1.4), dpi=100,
                    layout="constrained")
    FigureCanvasAgg(figure)  # no pyplot: no global state, safe in the service's threads
    axes = figure.add_subplot()
    bars = axes.barh(range(len(categories)), counts, color="#0060df", height=0.65)
    axes.set_yticks(range(len(categories)), labels=categories)
    axes.invert_yaxis()  # the taxonomy's first row on top
    axes.bar_label(bars, labels=[str(n) for n in counts], padding=3, fontsize=10)
    axes.set_xlim(0, max([*counts, 1]) * 1.12)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("Incidents")
    axes.set_title(title, fontsize=12, loc="left")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    out = io.BytesIO()
    metadata: dict[str, str | None] = {"Date": None} if fmt == "svg" else {"Software": None}
    figure.savefig(out, format=fmt, metadata=metadata)
    return out.getvalue()
