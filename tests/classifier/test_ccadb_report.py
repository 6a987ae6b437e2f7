"""The CCADB incident report parser: sections, fields, template guess and certificate types of comment 0."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

import classifier
from classifier import IncidentReport, level_evidence, parse_report
from classifier._ccadb_report import _FIELD_NAMES, stated_level_tags, without_certificate_types, without_template

# Fixture reports written for these tests (no real bug's text), one per template version.

V1_REPORT = """\
**1. How your CA first became aware of the problem, and the time and date.**

On 2023-03-06 at 08:12 UTC our nightly certificate linting job flagged two OV certificates whose
subject:localityName read "Amsterdm".

**2. A timeline of the actions your CA took in response.**

All times are UTC.
2023-03-06 08:12 Lint alert raised to the on-call engineer.
2023-03-06 09:40 Compliance confirmed the misspelling against the validation record.

**3. Whether your CA has stopped, or has not yet stopped, certificate issuance.**

Issuance for the affected customer account was paused at 09:55 and resumed after the fix.

**4. A summary of the problematic certificates.**

2 certificates, the first issued 2023-02-27 and the last 2023-03-01.

**5. The complete certificate data for the problematic certificates.**

https://crt.sh/?id=1000000001
https://crt.sh/?id=1000000002

**6. Explanation about how and why the mistakes were made, and how they avoided detection until now.**

The RA portal accepted free-text localities and our pre-issuance linter only checked their length.

**7. List of steps your CA is taking to resolve the situation.**

- Check localities against a gazetteer before issuance (due 2023-04-15).
"""

V2_REPORT = """\
## Incident Report

### Summary

Example CA issued 12 DV certificates whose CRL distribution point URL had a typo.

### Impact

12 certificates; none of them could be checked for revocation by CRL. Issuance was not stopped.

### Timeline

All times are UTC.

2023-11-02:
- 10:05 A community member reports the broken URL.
- 11:20 The certificate profile is corrected.

### Root Cause Analysis

A profile edit was deployed without the review step the change process asks for.

### Lessons Learned

#### What went well

* The report was triaged within an hour.

#### What didn't go well

* The profile linter does not fetch the CRL URL.

#### Where we got lucky

* Few certificates were issued from that profile.

### Action Items

| Action Item | Kind | Due Date |
| ----------- | ---- | -------- |
| Fetch CRL URLs in the profile linter | Prevent | 2023-12-15 |

### Appendix

#### Details of affected certificates

https://crt.sh/?sha256=0000000000000000000000000000000000000000000000000000000000000000
"""

V2_AUDIT_REPORT = """\
## Audit Incident Report

### Finding #1

Two access reviews were performed late.

### Root Cause Analysis

The review reminder was sent to a former employee.

### Action Items

| Action Item | Kind | Due Date |
| ----------- | ---- | -------- |
| Send reminders to a team alias | Prevent | 2024-02-01 |

### Finding #2

One key ceremony script was not signed by the witness.

### Root Cause Analysis

The witness signature page was missing from the template.
"""

V3_FULL_REPORT = """\
## Full Incident Report

### Summary

- **CA Owner CCADB unique ID:** A001234
- **Incident description:** Example CA issued TLS certificates whose stateOrProvinceName held an
  abbreviation instead of the full name.
- **Timeline summary:**
   - **Non-compliance start date:** 2025-04-02
   - **Non-compliance identified date:** 2025-05-19
   - **Non-compliance end date:** 2025-05-20
- **Relevant policies:** TLS Baseline Requirements v2.1.4, Section 7.1.4.2
- **Source of incident disclosure:** Third Party Reported

### Impact

- **Total number of certificates:** 41
- **Total number of "remaining valid" certificates:** 37
- **Affected certificate types:** This incident affects OV and EV certificates.
- **Incident heuristic:** Certificates from the "Example OV/EV" profile issued in the period.
- **Was issuance stopped in response to this incident, and why or why not?:** No. The profile was corrected within an hour.
- **Analysis:** N/A
- **Additional considerations:** N/A

### Timeline

2025-05-19 14:02 UTC A Certificate Problem Report arrives.

### Related Incidents

| Bug | Date | Description |
|-----|------|-------------|
| [Bug 1](https://example.invalid/1) | 2024-01-09 | Another CA abbreviated state names. |

### Root Cause Analysis

**Contributing Factor #1: the state field accepted abbreviations**
- **Description:** The enrolment form did not expand abbreviations.
- **Timeline:** The form has been in use since 2019.
- **Detection:** The linter checked only the field's length.
- **Interaction with other factors:** None.
- **Root Cause Analysis methodology used:** 5-Whys

### Lessons Learned

- **What went well:** The profile was fixed within an hour.
- **What didn't go well:** No lint for abbreviated state names.
- **Where we got lucky:** N/A
- **Additional:** N/A

### Action Items

| Action Item | Kind | Corresponding Root Cause(s) | Evaluation Criteria | Due Date | Status |
| --- | --- | --- | --- | --- | --- |
| Lint state names | Prevent | Root Cause # 1 | No such certificate in CT | 2025-07-01 | Ongoing |

### Appendix

See the attached CSV.
"""

V3_TABLE_REPORT = """\
## Preliminary Incident Report

### Summary

| Field | Value |
|-------|-------|
| **Incident description** | Example CA issued S/MIME certificates without the required policy OID. |
| **Relevant policies** | S/MIME Baseline Requirements v1.0.8, Section 7.1.6.4 |
| **Source of incident disclosure** | Self Reported |
| **Affected certificate types** | S/MIME Mailbox-validated (Strict) |
"""

V3_PLAIN_REPORT = """\
Preliminary Incident Report

Incident description: The OCSP responder for one intermediate returned "unknown" for 3 hours.
Relevant policies: TLS BR 4.10.2
Source of incident disclosure: Audit
Total number of certificates: N/A
Affected certificate types: N/A
"""

BUGZILLA_FORM = """\
User Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/118.0

Steps to reproduce:

On 2023-09-12 we found that one of our CRLs was not refreshed before its nextUpdate time.
A full report will follow by 2023-09-26.

Actual results:

The CRL was stale for two hours.

Expected results:

The CRL is refreshed every 24 hours.
"""

BUGZILLA_FORM_WITH_REPORT = """\
User Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)

Steps to reproduce:

SUMMARY
Example CA issued one OV certificate with an unvalidated organizationalUnitName.

IMPACT
One certificate, revoked within 24 hours.

TIMELINE -
2023-11-20 09:00 UTC Found during the weekly self-audit.

Actual results:

The certificate was revoked.
"""

FREE_TEXT = """\
Hello,
I noticed that the certificate at https://crt.sh/?id=123456789 has a localityName of "Warszaw",
which looks like a typo. Summary: probably a validation slip; impact unclear.
Could the CA look into this?
"""


def test_exports() -> None:
    for name in ("IncidentReport", "parse_report", "level_evidence"):
        assert name in classifier.__all__
        assert getattr(classifier, name).__module__ == "classifier._ccadb_report"


def test_report_is_frozen() -> None:
    report = parse_report(V2_REPORT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.template = "v1"  # type: ignore[misc]


def test_v1_report() -> None:
    report = parse_report(V1_REPORT)
    assert report.template == "v1"
    assert list(report.sections) == ["how_became_aware", "timeline", "issuance_stopped", "problematic_certificates",
                                     "certificate_data", "root_cause_analysis", "action_items"]
    assert report.sections["how_became_aware"].startswith("On 2023-03-06 at 08:12 UTC")
    assert report.sections["issuance_stopped"].startswith("Issuance for the affected customer account")
    assert "gazetteer" in report.sections["action_items"]
    assert report.fields == {}
    assert report.certificate_types == frozenset()
    assert level_evidence(report) is None


def test_v2_report() -> None:
    report = parse_report(V2_REPORT)
    assert report.template == "v2"
    assert list(report.sections) == ["incident_report", "summary", "impact", "timeline", "root_cause_analysis",
                                     "lessons_learned", "action_items", "appendix"]
    assert report.sections["incident_report"] == ""
    assert report.sections["summary"] == "Example CA issued 12 DV certificates whose CRL distribution point URL had a typo."
    # unknown sub-headings stay in their section
    assert "#### What didn't go well" in report.sections["lessons_learned"]
    assert "Details of affected certificates" in report.sections["appendix"]
    assert report.fields == {}
    assert level_evidence(report) is None


def test_v2_audit_report_joins_repeated_sections() -> None:
    report = parse_report(V2_AUDIT_REPORT)
    assert report.template == "v2"
    assert set(report.sections) == {"incident_report", "finding", "root_cause_analysis", "action_items"}
    assert report.sections["finding"] == ("Two access reviews were performed late.\n\n"
                                          "One key ceremony script was not signed by the witness.")
    assert "former employee" in report.sections["root_cause_analysis"]
    assert "witness signature page" in report.sections["root_cause_analysis"]


def test_v3_full_report() -> None:
    report = parse_report(V3_FULL_REPORT)
    assert report.template == "v3"
    assert list(report.sections) == ["incident_report", "summary", "impact", "timeline", "related_incidents",
                                     "root_cause_analysis", "lessons_learned", "action_items", "appendix"]
    assert report.fields["ca_owner_id"] == "A001234"
    assert report.fields["incident_description"].startswith("Example CA issued TLS certificates")
    assert report.fields["timeline_summary"] == ""
    assert report.fields["non_compliance_start_date"] == "2025-04-02"
    assert report.fields["non_compliance_end_date"] == "2025-05-20"
    assert report.fields["relevant_policies"] == "TLS Baseline Requirements v2.1.4, Section 7.1.4.2"
    assert report.fields["source_of_disclosure"] == "Third Party Reported"
    assert report.fields["total_certificates"] == "41"
    assert report.fields["remaining_valid_certificates"] == "37"
    assert report.fields["issuance_stopped"] == "No. The profile was corrected within an hour."
    assert report.fields["what_didnt_go_well"] == "No lint for abbreviated state names."
    # the contributing factor's sub-fields are not sections nor fields
    assert "timeline" not in report.fields and "description" not in report.fields
    assert "The form has been in use since 2019." in report.sections["root_cause_analysis"]
    assert report.sections["timeline"] == "2025-05-19 14:02 UTC A Certificate Problem Report arrives."
    assert report.certificate_types == {"OV", "EV"}
    assert level_evidence(report) == {"ov-misissuance", "ev-misissuance"}


def test_v3_table_report_smime_mailbox() -> None:
    report = parse_report(V3_TABLE_REPORT)
    assert report.template == "v3"
    assert list(report.sections) == ["preliminary", "summary"]
    assert report.fields == {
        "incident_description": "Example CA issued S/MIME certificates without the required policy OID.",
        "relevant_policies": "S/MIME Baseline Requirements v1.0.8, Section 7.1.6.4",
        "source_of_disclosure": "Self Reported",
        "affected_certificate_types": "S/MIME Mailbox-validated (Strict)",
    }
    assert report.certificate_types == {"SMIME"}
    assert level_evidence(report) == {"smime-misissuance"}


def test_v3_plain_report_not_applicable_types() -> None:
    report = parse_report(V3_PLAIN_REPORT)
    assert report.template == "v3"
    assert report.sections == {"preliminary": report.sections["preliminary"]}
    assert report.fields["source_of_disclosure"] == "Audit"
    assert report.fields["affected_certificate_types"] == "N/A"
    assert report.certificate_types == frozenset()
    assert level_evidence(report) is None


def test_bugzilla_default_form() -> None:
    report = parse_report(BUGZILLA_FORM)
    assert report == IncidentReport()


def test_bugzilla_form_around_a_report() -> None:
    report = parse_report(BUGZILLA_FORM_WITH_REPORT)
    assert report.template == "v2"
    assert list(report.sections) == ["summary", "impact", "timeline"]
    # "Actual results:" ends the timeline
    assert report.sections["timeline"] == "2023-11-20 09:00 UTC Found during the weekly self-audit."


def test_free_text() -> None:
    assert parse_report(FREE_TEXT) == IncidentReport()


@pytest.mark.parametrize(("line", "section"), [
    ("# Summary", "summary"),
    ("###### summary", "summary"),
    ("## Summary ##", "summary"),
    ("**Summary**", "summary"),
    ("**Summary:**", "summary"),
    ("**Summary**:", "summary"),
    ("Summary:", "summary"),
    ("SUMMARY", "summary"),
    ("<h3>Summary</h3>", "summary"),
    ("1. Summary", "summary"),
    ("II. Impact", "impact"),
    ("TIMELINE -", "timeline"),
    ("### Timeline of events", "timeline"),
    ("## Root Cause(s)", "root_cause_analysis"),
    ("### Root cause analysis:", "root_cause_analysis"),
    ("__Lessons Learned__", "lessons_learned"),
    ("### Lessons learnt", "lessons_learned"),
    ("Action Items:", "action_items"),
    ("### Related Incidents", "related_incidents"),
    ("## Preliminary Report", "preliminary"),
    ("### Report Closure Summary", "closure_summary"),
    ("### Finding #3: key ceremony", "finding"),
    ("#### 1. How your CA first became aware of the problem", "how_became_aware"),
    ("*2. A timeline of the actions your CA took in response.*", "timeline"),
    ("1/ How your CA first became aware of the problem.", "how_became_aware"),
    ("- Whether your CA has stopped, or has not yet stopped, issuing", "issuance_stopped"),
])
def test_heading_variants(line: str, section: str) -> None:
    report = parse_report(f"Intro.\n{line}\nThe text.\n")
    assert report.sections == {section: "The text."}


@pytest.mark.parametrize("line", [
    "Summary: the CA issued one certificate too many.",   # a heading has nothing after its colon
    "- Summary",                                          # a list item
    "| Summary | Impact |",                               # a table row
    "The summary is below:",
    "### Summary of our findings so far",
    "Timeline summary: 2024-01-01 to 2024-02-01",
])
def test_not_headings(line: str) -> None:
    assert parse_report(f"{line}\nThe text.\n").sections == {}


@pytest.mark.parametrize("line", [
    "**Relevant policies:** BR 4.9.1.1",
    "**Relevant policies**: BR 4.9.1.1",
    "Relevant policies: BR 4.9.1.1",
    "- **Relevant Policies:** BR 4.9.1.1",
    "   * relevant policies: BR 4.9.1.1",
    "| **Relevant policies** | BR 4.9.1.1 |",
    "| Relevant policies | BR 4.9.1.1 |",
    "**Relevant policy(s):** BR 4.9.1.1",
    "1. **Relevant policies:** BR 4.9.1.1",
    "2) Relevant policies: BR 4.9.1.1",
    "**3. Relevant policies:** BR 4.9.1.1",
    "\u2013 **Relevant policies:** BR 4.9.1.1",
    "\u2014 Relevant policies: BR 4.9.1.1",
    "Relevant policies\uff1a BR 4.9.1.1",
    "| 4. Relevant policies | BR 4.9.1.1 |",
])
def test_field_forms(line: str) -> None:
    assert parse_report(line).fields == {"relevant_policies": "BR 4.9.1.1"}


def test_field_value_on_the_next_lines() -> None:
    text = "**Affected certificate types:**\n\nDV and OV\nTLS server certificates\n\nOther text.\n"
    report = parse_report(text)
    assert report.fields == {"affected_certificate_types": "DV and OV\nTLS server certificates"}
    assert report.certificate_types == {"DV", "OV"}


def test_field_value_stops_at_the_next_field() -> None:
    report = parse_report("- **Incident description:**\n- **Relevant policies:** EVG 9.2.4\n")
    assert report.fields == {"incident_description": "", "relevant_policies": "EVG 9.2.4"}


def test_table_with_field_names_as_columns_is_not_read() -> None:
    text = "| Incident description | Relevant policies |\n|---|---|\n| A CRL expired | BR 4.10 |\n"
    assert parse_report(text).fields == {}


def test_first_statement_of_a_field_wins() -> None:
    report = parse_report("Source of incident disclosure: Audit\nSource of incident disclosure: Self Reported\n")
    assert report.fields == {"source_of_disclosure": "Audit"}


def test_issuance_stopped_without_a_colon() -> None:
    report = parse_report("Was issuance stopped in response to this incident, and why or why not? Yes, for a day.")
    assert report.fields == {"issuance_stopped": "Yes, for a day."}


@pytest.mark.parametrize(("value", "types"), [
    ("This incident affects DV and OV certificates.", {"DV", "OV"}),
    ("EV", {"EV"}),
    ("Extended Validation TLS certificates", {"EV"}),
    ("domain validated", {"DV"}),
    ("Domain-validated and organisation-validated", {"DV", "OV"}),
    ("Organization Validated (OV)", {"OV"}),
    ("individual validated", {"IV"}),
    ("DV, IV, OV, EV", {"DV", "IV", "OV", "EV"}),
    ("Certificates with policy OID 2.23.140.1.2.2", {"OV"}),
    ("N/A", set()),
    ("n/a.", set()),
    ("None", set()),
    ("Not applicable (OCSP responses only)", set()),
    ("", set()),
    ("S/MIME", {"SMIME"}),
    ("SMIME Mailbox-validated", {"SMIME"}),
    ("Sponsor-validated (Multipurpose)", {"SMIME"}),
    ("S/MIME Organization-validated", {"SMIME"}),
    ("S/MIME Individual-validated", {"IV", "SMIME"}),
    ("OV TLS and S/MIME Sponsor-validated", {"OV", "SMIME"}),
    # What the value says was not affected is not stated (an ML review found each given).
    ("OV; EV and DV not affected", {"OV"}),
    ("OV (no EV certificates affected)", {"OV"}),
    ("S/MIME OV (no TLS certificates)", {"SMIME"}),
    ("DV only; OV and EV unaffected", {"DV"}),
    ("OV and EV, but not DV", {"OV", "EV"}),
    ("No DV certificates, only OV", {"OV"}),
    ("OV. Neither EV nor DV", {"OV"}),
    ("TLS: DV, OV. S/MIME: none", {"DV", "OV"}),
    ("S/MIME: N/A; TLS: EV", {"EV"}),
    # A negation of something else leaves the types alone.
    ("EV certificates that were not disclosed in time", {"EV"}),
])
def test_certificate_types(value: str, types: set[str]) -> None:
    report = parse_report(f"**Affected certificate types:** {value}\n")
    assert report.certificate_types == types


@pytest.mark.parametrize(("value", "tags"), [
    ("DV and OV", {"dv-misissuance", "ov-misissuance"}),
    ("EV", {"ev-misissuance"}),
    ("S/MIME Mailbox-validated", {"smime-misissuance"}),
    ("IV", set()),                                         # IV alone: TLS or S/MIME, so nothing
    ("S/MIME Individual-validated", {"smime-misissuance"}),
])
def test_level_evidence(value: str, tags: set[str]) -> None:
    assert level_evidence(parse_report(f"Affected certificate types: {value}")) == tags


def test_level_evidence_none_without_types() -> None:
    assert level_evidence(parse_report("")) is None
    assert level_evidence(parse_report(V2_REPORT)) is None
    assert level_evidence(parse_report("Affected certificate types: N/A")) is None
    assert level_evidence(parse_report("This incident affects DV and OV certificates.")) is None


def test_certificate_types_come_only_from_the_field() -> None:
    report = parse_report("## Summary\n\nWe misissued 3 EV certificates.\n")
    assert report.certificate_types == frozenset()


@pytest.mark.parametrize("text", [
    "",
    " ",
    "\n\n\n",
    "\x00\x01\x02\x03\x1b[31m\x7f",
    "Summary:\x00\n\x0c\x0bImpact\r\n\u2028\u2029\x85",
    "\ud800\udfff lone surrogates",
    "\u202e## Summary\u202c\n\u05d4\u05ea\u05e2\u05d5\u05d3\u05d4 \u05d4\u05d5\u05e0\u05e4\u05e7\u05d4\n",
    "\u0645\u0644\u062e\u0635: \u0634\u0647\u0627\u062f\u0629\n\u200f**Affected certificate types:** \u200fOV\n",
    "#" * 5000,
    "**" * 5000 + "\n" + "|" * 5000,
    "1. " * 3000,
    "<h2>" * 3000 + "Summary",
    "Affected certificate types:" + "\n" * 5000,
    "\t" * 100 + "- **Affected certificate types:** " + "S/MIME " * 3000,
])
def test_never_raises(text: str) -> None:
    report = parse_report(text)
    assert isinstance(report, IncidentReport)
    assert report.template in (None, "v1", "v2", "v3")
    level_evidence(report)


def test_empty_text() -> None:
    report = parse_report("")
    assert report == IncidentReport(sections={}, fields={}, template=None, certificate_types=frozenset())


def test_right_to_left_text_around_headings() -> None:
    text = ("## Summary\n\u05d4\u05ea\u05e2\u05d5\u05d3\u05d4 \u05d4\u05d5\u05e0\u05e4\u05e7\u05d4\n"
            "## Impact\n\u200f\u0634\u0647\u0627\u062f\u0629 \u0648\u0627\u062d\u062f\u0629\n")
    report = parse_report(text)
    assert list(report.sections) == ["summary", "impact"]
    assert report.sections["summary"] == "\u05d4\u05ea\u05e2\u05d5\u05d3\u05d4 \u05d4\u05d5\u05e0\u05e4\u05e7\u05d4"
    assert report.template == "v2"


def _best_ms(text: str, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        parse_report(text)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def test_huge_report_is_fast() -> None:
    text = (V3_FULL_REPORT + V2_REPORT + V1_REPORT + BUGZILLA_FORM + FREE_TEXT) * 30
    text = text[:100_000]
    assert len(text) == 100_000
    report = parse_report(text)
    assert report.template == "v3"
    assert _best_ms(text) < 50


@pytest.mark.parametrize("text", [
    "a" * 100_000,
    "*" * 100_000,
    ":" * 100_000,
    "|" * 100_000,
    "<b>" * 33_333,
    "- " * 50_000,
    " " * 99_999 + ":",
    "**Affected certificate types" + " " * 100_000,
    ("| **Relevant policies** | " + "x|" * 100 + "\n") * 400,
])
def test_no_catastrophic_backtracking(text: str) -> None:
    assert _best_ms(text) < 50


@pytest.mark.snapshot
def test_every_comment_0_of_the_snapshot(real_snapshot: Path) -> None:
    comments_file = real_snapshot / "comments.json"
    if not comments_file.is_file():
        pytest.skip(f"no comments.json in {real_snapshot}")
    bugs = json.loads(comments_file.read_text(encoding="utf-8"))["bugs"]
    texts = [c.get("text") or "" for bug in bugs.values() for c in bug["comments"] if c.get("count") == 0]
    assert texts
    reports = [parse_report(text) for text in texts]
    assert all(r.template in (None, "v1", "v2", "v3") for r in reports)
    assert all(level_evidence(r) is None or r.certificate_types for r in reports)
    assert any(r.template == "v1" for r in reports)
    assert any(r.sections for r in reports)


@pytest.mark.parametrize("name", sorted(n for n, f in _FIELD_NAMES.items()
                                        if f == "affected_certificate_types"))
@pytest.mark.parametrize("form", ["**{}:** OV and EV", "- {}: OV and EV", "| **{}** | OV and EV |",
                                  "### {}\n\nOV and EV"])
def test_stated_level_tags_reads_every_name_of_the_field(name: str, form: str) -> None:
    """The screen before parsing lets every name of the field through, whatever its case."""
    for text in (form.format(name), form.format(name.upper()), form.format(name.title())):
        assert stated_level_tags(text) == level_evidence(parse_report(text))


@pytest.mark.parametrize("text", [V1_REPORT, V2_REPORT, V3_FULL_REPORT, "",
                                  "Certificates of every type were revoked.",
                                  "OV certificates were misissued."])
def test_stated_level_tags_is_level_evidence_of_the_report(text: str) -> None:
    assert stated_level_tags(text) == level_evidence(parse_report(text))


@pytest.mark.parametrize("text", [V3_FULL_REPORT, V3_TABLE_REPORT, V3_PLAIN_REPORT,
                                  "**Affected certificate types:**\n\nDV and OV\nTLS server certificates\n\nOther text.\n"])
def test_without_certificate_types_drops_the_field_only(text: str) -> None:
    before = parse_report(text)
    assert "affected_certificate_types" in before.fields
    after = parse_report(without_certificate_types(text))
    assert "affected_certificate_types" not in after.fields
    assert after.certificate_types == frozenset()
    assert {k: v for k, v in before.fields.items() if k != "affected_certificate_types"} == after.fields


def test_without_certificate_types_value_below_its_name() -> None:
    text = "**Affected certificate types:**\n\nDV and OV\nTLS server certificates\n\nOther text.\n"
    assert without_certificate_types(text) == "\nOther text.\n"


@pytest.mark.parametrize("text", [FREE_TEXT, V1_REPORT, V2_REPORT, "", "We issued certificates of the wrong type."])
def test_without_certificate_types_leaves_other_text_alone(text: str) -> None:
    assert without_certificate_types(text) is text


def test_without_template_v3_keeps_the_values_only() -> None:
    words = without_template(V3_FULL_REPORT)
    # The values stay, each on its line.
    for value in ("Example CA issued TLS certificates whose stateOrProvinceName held an",
                  "TLS Baseline Requirements v2.1.4, Section 7.1.4.2", "Third Party Reported",
                  "No. The profile was corrected within an hour.",
                  "2025-05-19 14:02 UTC A Certificate Problem Report arrives.",
                  "**Contributing Factor #1: the state field accepted abbreviations**"):
        assert value in words
    assert "The enrolment form did not expand abbreviations." in words
    # The template's words go: no heading, no field name.
    for name in ("Full Incident Report", "### Summary", "Incident description", "Relevant policies",
                 "Source of incident disclosure", "Was issuance stopped", "### Root Cause Analysis",
                 "Lessons Learned", "What went well", "Affected certificate types", "Timeline summary"):
        assert name not in words, name
    # The affected types are a value like the others (the model takes the field out before).
    assert "This incident affects OV and EV certificates." in words
    assert parse_report(words).template is None


def test_without_template_v2_drops_the_headings() -> None:
    words = without_template(V2_REPORT)
    assert "Example CA issued 12 DV certificates whose CRL distribution point URL had a typo." in words
    assert "A profile edit was deployed without the review step the change process asks for." in words
    for heading in ("Incident Report", "### Summary", "### Impact", "### Timeline", "Root Cause Analysis",
                    "Lessons Learned", "Action Items", "Appendix"):
        assert heading not in words, heading
    # The action items' table is text of the report, not of the template.
    assert "Fetch CRL URLs in the profile linter" in words


def test_without_template_field_value_below_its_name() -> None:
    text = ("## Preliminary Incident Report\n\n### Summary\n\n- **Incident description:**\n\n"
            "Our OCSP responder answered unknown.\nFor three hours.\n\n- **Relevant policies:** TLS BR 4.10.2\n")
    # The name's line goes, the blank lines and the value below stay.
    assert without_template(text) == "\n\n\nOur OCSP responder answered unknown.\nFor three hours.\n\nTLS BR 4.10.2\n"


@pytest.mark.parametrize("text", [V1_REPORT, FREE_TEXT, BUGZILLA_FORM, "", "Summary\n\nOne heading is no template.",
                                  "Incident description: a field alone is no template."])
def test_without_template_leaves_other_text_alone(text: str) -> None:
    """v1's topics, free text and a text with fewer than two template signs are words as they are."""
    assert without_template(text) is text


def test_without_template_never_raises() -> None:
    assert without_template(None) is None  # type: ignore[arg-type]
    assert without_template(V3_PLAIN_REPORT + "\x00" * 10) != V3_PLAIN_REPORT


def test_without_certificate_types_text_naming_types_elsewhere() -> None:
    text = "Certificates of every type were affected.\nThe type of the error: encoding.\n"
    assert without_certificate_types(text) is text
    # "Certificate type:" is one of the field's names, and goes with its value.
    named = "Certificate type: OV.\nThe certificates were of every type.\n"
    assert without_certificate_types(named) == "The certificates were of every type.\n"
