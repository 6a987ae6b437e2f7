"""`incidents report`: the briefing of a period printed (Markdown, HTML, CSV) or written with its
chart; a bad period is one error line; a store never filled says so."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from core.aggregate import Period, briefing
from core.ca_names import CANames
from core.config import Settings
from core.db import session_scope
from tests.fixtures import SQLITE_ONLY, Incidents

WINDOW = ("--start", "2019-01-01", "--end", "2019-12-31")


def _aggregate(settings: Settings, taxonomy):
    period = Period.parse("2019-01-01", "2019-12-31")
    with session_scope(settings.database_url) as session:
        return briefing(session=session, taxonomy=taxonomy, start=period.start, end=period.end,
                        active_version=None, ca_names=CANames.load())


def test_report_markdown(incidents: Incidents, settings: Settings, store: str, taxonomy):
    table = _aggregate(settings, taxonomy)
    result = incidents.ok("report", *WINDOW)
    assert result.stderr == ""  # no terminal: no status line
    text = result.stdout
    assert text.startswith("# CA incident briefing: January 1, 2019, to December 31, 2019\n")
    for row in table.rows:
        assert f"| {row.category} | {row.incidents} |" in text
    assert f"| **All incidents (distinct)** | **{table.total}** |" in text and table.total == 12


def test_report_csv_and_html(incidents: Incidents, settings: Settings, store: str, taxonomy):
    table = _aggregate(settings, taxonomy)
    rows = list(csv.DictReader(io.StringIO(incidents.ok("report", *WINDOW, "--format", "csv").stdout)))
    assert [(r["row"], int(r["incidents"])) for r in rows if r["kind"] == "category"] == [
        (r.category, r.incidents) for r in table.rows]
    page = incidents.ok("report", *WINDOW, "--format", "html").stdout
    assert page.startswith("<!DOCTYPE html>")
    # A file has no service behind it: counts link to Bugzilla's list of the bugs.
    ids = ",".join(str(i) for i in table.rows[5].incident_ids)
    assert f'href="http://127.0.0.1:9/buglist.cgi?bug_id={ids}"' in page


@SQLITE_ONLY
def test_report_out_writes_report_and_chart(incidents: Incidents, settings: Settings, store: str,
                                            tmp_path: Path):
    out = tmp_path / "briefing"
    result = incidents.ok("report", *WINDOW, "--out", out)
    name = "briefing_2019-01-01_2019-12-31"
    written = [out / f"{name}.md", out / f"{name}.png", out / f"{name}.svg"]
    assert result.stdout.splitlines() == [
        *(f"wrote {path}" for path in written),
        "Chart based on 12 open incidents between January 1, 2019, and December 31, 2019"]
    assert f"({name}.png)" in written[0].read_text()
    assert written[1].read_bytes().startswith(b"\x89PNG")
    assert "Chart based on 12 open incidents" in written[2].read_text()


@SQLITE_ONLY
@pytest.mark.parametrize("period, says", [
    (("--start", "2020-01-01", "--end", "2019-01-01"), "error: start: 2020-01-01 is after end 2019-01-01"),
    (("--start", "2019-13-01", "--end", "2019-12-31"), "error: start: '2019-13-01' is not a date"),
    (("--start", "2019-01-01", "--end", "Friday"), "error: end: 'Friday' is not a date"),
])
def test_report_bad_period(incidents: Incidents, store: str, period, says):
    result = incidents.fails("report", *period)
    assert result.stderr.startswith(says) and len(result.stderr.splitlines()) == 1


@SQLITE_ONLY
def test_report_on_a_store_never_filled(incidents: Incidents, settings: Settings):
    result = incidents.fails("report", *WINDOW, says=("holds no incidents yet", "incidents sync"))
    assert len(result.stderr.splitlines()) == 1


@SQLITE_ONLY
def test_report_on_a_store_never_filled_hides_the_password(incidents: Incidents, settings: Settings,
                                                           monkeypatch: pytest.MonkeyPatch):
    """The store's URL in the message has its password masked, as every other message has."""
    from core.config import get_settings

    # A SQLite URL with a password: the same masking, no database needed.
    monkeypatch.setenv("INCIDENTS_DATABASE_URL", f"sqlite://alice:s3cretpw@/{settings.database_url.split('///', 1)[1]}")
    get_settings.cache_clear()
    try:
        result = incidents.fails("report", *WINDOW, says=("holds no incidents yet", "alice:***@"))
    finally:
        get_settings.cache_clear()
    assert "s3cretpw" not in result.stderr


@SQLITE_ONLY
def test_report_out_is_all_or_nothing(incidents: Incidents, store: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch):
    """A write that fails (the disk full at the chart's SVG) leaves no file of the report, not the
    report and its PNG without the SVG; one line names the folder."""
    out = tmp_path / "briefing"
    real = Path.write_bytes

    def full_at_the_svg(self: Path, data: bytes) -> int:
        if ".svg." in self.name:
            raise OSError(28, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_at_the_svg)
    incidents.fails("report", *WINDOW, "--out", out,
                    says=(f"cannot write in {out}: No space left on device",))
    assert list(out.iterdir()) == []


def test_report_out_at_a_file(incidents: Incidents, store: str, tmp_path):
    """--out names a folder: a file there is refused before anything is read (it was
    "[Errno 17] File exists"), and left as it was."""
    taken = tmp_path / "briefing.md"
    taken.write_text("mine", encoding="utf-8")
    result = incidents("report", *WINDOW, "--out", taken)
    assert result.exit_code == 2
    assert "Invalid value for '--out'" in result.output and "is a file" in result.output
    assert "Errno" not in result.output
    assert taken.read_text(encoding="utf-8") == "mine"


@SQLITE_ONLY
def test_report_bad_format(incidents: Incidents, store: str):
    result = incidents("report", *WINDOW, "--format", "pdf")
    assert result.exit_code == 2 and "pdf" in result.output


@SQLITE_ONLY
def test_report_status_line_on_a_terminal(incidents: Incidents, store: str, monkeypatch: pytest.MonkeyPatch):
    import cli._shared

    monkeypatch.setattr(cli._shared, "_stderr_is_terminal", lambda: True)
    result = incidents.ok("report", *WINDOW)
    assert "counting the incidents open between January 1, 2019, and December 31, 2019" in result.stderr
    assert result.stdout.startswith("# CA incident briefing")
