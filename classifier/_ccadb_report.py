"""The CCADB incident report in a bug's comment 0: its sections, its fields, its template and its certificate types.

Since February 2023 CA Owners file incidents following the CCADB Incident Reporting Guidelines,
whose template changed three times:

* **v1** (February 2023): seven numbered topics ("How your CA first became aware of the problem",
  "A timeline of the actions your CA took", "Whether your CA has stopped ... issuance", "a
  summary of the problematic certificates", "the complete certificate data", "Explanation about
  how and why the mistakes were made", "List of steps your CA is taking"), often pasted whole as
  the headings of the answers. They are the questions Mozilla asked for years before (reports
  from 2017 on use them), so older reports read as v1 too;
* **v2** (October 2023): a markdown report ``## Incident Report`` with the sections Summary,
  Impact, Timeline, Root Cause Analysis, Lessons Learned, Action Items and Appendix (an audit
  report has Finding, Root Cause Analysis and Action Items instead);
* **v3** (March 2025; 3.1 and 3.2 keep its templates): a Preliminary or Full Incident Report whose
  Summary and Impact sections are lists of named fields (``**Incident description:** ...``,
  ``**Affected certificate types:** ...``), plus a Related Incidents section and a closure summary.

:func:`parse_report` reads any text, report or not, into an :class:`IncidentReport`;
:func:`level_evidence` turns the certificate types a report states into the misissuance tags they
allow. Pure text processing: no I/O, never raises on a ``str``, linear in the text's length (no
regular expression here can backtrack over more than a bounded window of one line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["IncidentReport", "level_evidence", "parse_report", "without_certificate_types",
           "without_template"]

# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

#: Heading variants (normalised by :func:`_norm`) and the section each one opens.
_SECTION_NAMES: dict[str, str] = {
    **dict.fromkeys(("summary", "incident summary", "executive summary", "short summary",
                     "brief summary", "summary of the incident"), "summary"),
    **dict.fromkeys(("impact", "incident impact", "impact assessment", "impact analysis",
                     "scope and impact"), "impact"),
    **dict.fromkeys(("timeline", "incident timeline", "timeline of events", "detailed timeline",
                     "timeline of actions", "timeline of the incident"), "timeline"),
    **dict.fromkeys(("related incidents", "related incident", "related bugs", "related bug"),
                    "related_incidents"),
    **dict.fromkeys(("root cause analysis", "root cause", "root causes", "rca",
                     "root cause analysis rca", "root cause of issue", "root cause of the issue"),
                    "root_cause_analysis"),
    **dict.fromkeys(("lessons learned", "lessons learnt", "lesson learned"), "lessons_learned"),
    **dict.fromkeys(("action items", "action item", "action plan", "remediation plan",
                     "remediation plan for this issue", "remediation steps"), "action_items"),
    **dict.fromkeys(("appendix", "appendices"), "appendix"),
    **dict.fromkeys(("preliminary report", "preliminary incident report"), "preliminary"),
    **dict.fromkeys(("incident report", "full incident report", "full report",
                     "audit incident report"), "incident_report"),
    **dict.fromkeys(("report closure summary", "incident closure summary", "closure summary",
                     "closure report"), "closure_summary"),
    **dict.fromkeys(("finding", "findings", "issue description"), "finding"),
    # The v1 topics in a few words.
    **dict.fromkeys(("how we became aware", "how we first became aware", "how the ca became aware",
                     "how your ca first became aware of the problem"), "how_became_aware"),
    **dict.fromkeys(("problematic certificates", "summary of the problematic certificates",
                     "summary of problematic certificates"), "problematic_certificates"),
    **dict.fromkeys(("certificate data", "complete certificate data"), "certificate_data"),
}

#: Beginnings of the v1 topics (normalised), which were usually pasted whole as headings.
_SECTION_PREFIXES: tuple[tuple[str, str], ...] = (
    ("how your ca first became aware", "how_became_aware"),
    ("how your ca became aware", "how_became_aware"),
    ("how we became aware of the", "how_became_aware"),
    ("how we first became aware", "how_became_aware"),
    ("a timeline of the actions", "timeline"),
    ("timeline of the actions your ca", "timeline"),
    ("whether your ca has stopped", "issuance_stopped"),
    ("whether your ca has", "issuance_stopped"),
    ("in a case involving certificates a summary", "problematic_certificates"),
    ("a summary of the problematic certificates", "problematic_certificates"),
    ("in a case involving tls server certificates", "certificate_data"),
    ("the complete certificate data", "certificate_data"),
    ("explanation about how and why", "root_cause_analysis"),
    ("explanation of how and why", "root_cause_analysis"),
    ("a list of steps your ca is taking", "action_items"),
    ("list of steps your ca is taking", "action_items"),
    ("finding ", "finding"),  # "Finding #1", "Finding 2: ..."
)

#: Labels of Bugzilla's default bug form: they end a section and open none.
_FORM_LABELS = frozenset({"steps to reproduce", "actual results", "expected results", "user agent"})

#: Field names (normalised by :func:`_norm`) and the canonical field each one gives.
_FIELD_NAMES: dict[str, str] = {
    **dict.fromkeys(("ca owner ccadb unique id", "ccadb unique id", "ca owner ccadb id", "ca owner id",
                     "ccadb id", "ca owner ccadb unique identifier"), "ca_owner_id"),
    **dict.fromkeys(("incident description",), "incident_description"),
    **dict.fromkeys(("timeline summary",), "timeline_summary"),
    **dict.fromkeys(("non compliance start date", "noncompliance start date"), "non_compliance_start_date"),
    **dict.fromkeys(("non compliance identified date", "noncompliance identified date"),
                    "non_compliance_identified_date"),
    **dict.fromkeys(("non compliance end date", "noncompliance end date"), "non_compliance_end_date"),
    **dict.fromkeys(("relevant policies", "relevant policy"), "relevant_policies"),
    **dict.fromkeys(("source of incident disclosure", "source of disclosure", "incident disclosure source"),
                    "source_of_disclosure"),
    **dict.fromkeys(("total number of certificates", "total number of affected certificates",
                     "number of affected certificates", "total certificates"), "total_certificates"),
    **dict.fromkeys(("total number of remaining valid certificates", "number of remaining valid certificates",
                     "remaining valid certificates"), "remaining_valid_certificates"),
    **dict.fromkeys(("affected certificate types", "affected certificate type", "certificate types affected",
                     "affected certificates types", "types of affected certificates", "certificate types",
                     "certificate type"), "affected_certificate_types"),
    **dict.fromkeys(("incident heuristic",), "incident_heuristic"),
    **dict.fromkeys(("issuance stopped", "was issuance stopped"), "issuance_stopped"),
    **dict.fromkeys(("analysis",), "analysis"),
    **dict.fromkeys(("additional considerations",), "additional_considerations"),
    **dict.fromkeys(("what went well",), "what_went_well"),
    **dict.fromkeys(("what didnt go well", "what did not go well"), "what_didnt_go_well"),
    **dict.fromkeys(("where we got lucky",), "where_we_got_lucky"),
    **dict.fromkeys(("incident root causes", "incident root cause"), "incident_root_causes"),
    **dict.fromkeys(("remediation description",), "remediation_description"),
    **dict.fromkeys(("commitment summary",), "commitment_summary"),
}

#: Beginnings of long field names (normalised).
_FIELD_PREFIXES: tuple[tuple[str, str], ...] = (
    ("was issuance stopped", "issuance_stopped"),
    ("total number of remaining valid", "remaining_valid_certificates"),
    ("ca owner ccadb unique id", "ca_owner_id"),
)


def _leads(names: list[str]) -> tuple[str, ...]:
    """The first word of each name (the first two after "a", "in" or "the"), to screen lines by."""
    leads = set()
    for name in names:
        words = name.split()
        leads.add(" ".join(words[:2]) if words[0] in ("a", "in", "the") else words[0])
    return tuple(sorted(leads))


_SECTION_PREFIX_KEYS = tuple(p for p, _ in _SECTION_PREFIXES)
_FIELD_PREFIX_KEYS = tuple(p for p, _ in _FIELD_PREFIXES)
_HEADING_LEADS = _leads([*_SECTION_NAMES, *(p for p, _ in _SECTION_PREFIXES), *_FORM_LABELS])
_FIELD_LEADS = _leads([*_FIELD_NAMES, *(p for p, _ in _FIELD_PREFIXES)])

#: What tells a v3 report: its fields and the headings it introduced.
_V3_FIELDS = frozenset({
    "ca_owner_id", "incident_description", "timeline_summary", "non_compliance_start_date",
    "non_compliance_identified_date", "non_compliance_end_date", "relevant_policies", "source_of_disclosure",
    "total_certificates", "remaining_valid_certificates", "affected_certificate_types", "incident_heuristic",
    "issuance_stopped", "additional_considerations", "incident_root_causes", "remediation_description",
    "commitment_summary",
})
_V3_SECTIONS = frozenset({"related_incidents", "closure_summary"})
_V3_TITLES = frozenset({"full incident report"})
#: What tells a v1 report: sections of topics only v1 has.
_V1_SECTIONS = frozenset({"how_became_aware", "issuance_stopped", "problematic_certificates", "certificate_data"})
#: What tells a v2 report: the sections of its template (and of its audit template).
_V2_SECTIONS = frozenset({"incident_report", "preliminary", "summary", "impact", "timeline", "root_cause_analysis",
                          "lessons_learned", "action_items", "appendix", "finding"})

#: The misissuance tag of each certificate type (IV has none of its own: see :func:`level_evidence`).
_LEVEL_TAGS = {"DV": "dv-misissuance", "OV": "ov-misissuance", "EV": "ev-misissuance",
               "SMIME": "smime-misissuance"}
#: The tags a report's stated certificate types settle.
LEVEL_TAGS = frozenset(_LEVEL_TAGS.values())

# --------------------------------------------------------------------------------------------
# Patterns: each anchored, with bounded repetitions only.
# --------------------------------------------------------------------------------------------

_MAX_HEADING = 160      # a heading (but a pasted v1 topic) is never longer
_MAX_NAME = 120         # nor a field's name
_MAX_CONTINUATION = 40  # lines of a field's value below its name
_LEAD_STRIP = " \t*_~`#>|-+=/\u2022\u25aa\u25cf\u2013\u20140123456789.)]([:"
_TAG_START = re.compile(r"(?:</?[a-zA-Z][a-zA-Z0-9]{0,9}(?:\s[^<>]{0,80})?>\s*){1,8}")
_BULLET = re.compile(r"[-*+\u2022\u25aa\u25cf]\s")
#: What may open a field's line besides a bullet: a dash, or an item's number ("1.", "2)").
_ITEM_MARK = re.compile(r"(?:[\u2013\u2014]|\d{1,2}[.)])\s+")
_HTML_EDGE = re.compile(r"^(?:\s*</?[a-zA-Z][a-zA-Z0-9]{0,9}(?:\s[^<>]{0,80})?>)+|(?:</?[a-zA-Z][a-zA-Z0-9]{0,9}>\s*)+$")
_NUMBERING = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2}){0,3}|[ivxIVX]{1,4})\s{0,3}(?:[.)\]:/\u2013]|-{1,2})\s*(?=\S)"
                        r"|^\d{1,2}\s+(?=[A-Za-z])")
_LEAD_NUMBER = re.compile(r"[ivx]{1,4}\s{0,3}(?:[.):/\u2013]|-{1,2})\s*")
_EDGE_MARKUP = " \t*_~`#>:.=\u2013\u2014-"
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_NA = re.compile(r"^\W{0,3}(?:n\W{0,2}a|none|not applicable|no certificates?|nil|-+)\W{0,3}$")

# Certificate types in the affected-certificate-types field (the value, lower-cased, is searched).
_SMIME = re.compile(r"\bs\W?mime|mailbox\W{0,2}valid|sponsor\W{0,2}valid|secure\W?e\W?mail"
                    r"|2\.23\.140\.1\.5\b")
_TLS = re.compile(r"\b(?:tls|ssl|server\W{0,2}auth\w*|dv|ev|domain\W{0,2}valid\w*|extended\W{0,2}valid\w*)\b"
                  r"|2\.23\.140\.1\.(?:1|2\.1)\b")
_DV = re.compile(r"\bdv\b|domain\W{0,2}valid|2\.23\.140\.1\.2\.1\b")
_OV = re.compile(r"\bov\b|organi[sz]ation\W{0,2}valid|2\.23\.140\.1\.2\.2\b")
_EV = re.compile(r"\bev\b|extended\W{0,2}valid|2\.23\.140\.1\.1\b")
_IV = re.compile(r"\biv\b|individual\W{0,2}valid|2\.23\.140\.1\.2\.3\b")
#: Where a list of certificate types breaks into clauses: a negation speaks for its clause only
#: ("OV; EV and DV not affected", "OV (no EV certificates)").
_CLAUSE = re.compile(r"[;()\[\]\n,]|\.\s|\b(?:but|while|whereas)\b")
#: A clause that says certificate types were *not* affected: a negation before a type (within
#: three words: "no EV", "not any DV", "neither TLS nor"), "not affected", "unaffected", or a type
#: answered "none" or "N/A" ("S/MIME: none").
_NEGATED = re.compile(
    r"\b(?:no|not|non|neither|nor|excluding|except|without)\b(?:\W{1,3}\w{1,30}){0,3}?\W{1,3}"
    r"(?:dv|ov|ev|iv|tls|ssl|s\W?mime|smime|domain|organi[sz]ation|extended|individual|mailbox"
    r"|sponsor|server|e\W?mail|certificates?)\b"
    r"|\b(?:not|n't|never)\W{1,3}(?:\w{1,30}\W{1,3}){0,2}?(?:affected|impacted|involved|concerned|in scope)\b"
    r"|\bun(?:affected|impacted|involved)\b|\bout of scope\b|\bnone\b|:\W{0,3}(?:no|n\W?a)\W*$")


@dataclass(frozen=True)
class IncidentReport:
    """What the CCADB incident report in a text states.

    Attributes
    ----------
    sections : dict[str, str]
        Each section found, by canonical name ("summary", "impact", "timeline",
        "related_incidents", "root_cause_analysis", "lessons_learned", "action_items",
        "appendix", "preliminary", "incident_report", "closure_summary", "finding", and v1's
        "how_became_aware", "issuance_stopped", "problematic_certificates", "certificate_data"):
        the text from its heading to the next known heading, stripped; a section named twice
        (an audit report's findings) is the texts joined by a blank line. Headings the parser
        does not know stay in the text of the section they are in.
    fields : dict[str, str]
        Each field found, by canonical name ("ca_owner_id", "incident_description",
        "timeline_summary", "relevant_policies", "source_of_disclosure", "total_certificates",
        "affected_certificate_types", "issuance_stopped", ...): its value, stripped, "" when the
        field is named with no value. The first statement of a field wins.
    template : str or None
        The guessed template version, "v1", "v2" or "v3"; None for text in none of them (see
        :func:`parse_report` for the rule).
    certificate_types : frozenset of str
        The certificate types the affected-certificate-types field states, among "DV", "OV",
        "EV", "IV" and "SMIME"; empty when the field is absent, "N/A" or names none.
    """

    sections: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    template: str | None = None
    certificate_types: frozenset[str] = frozenset()


def parse_report(text: str) -> IncidentReport:
    """Read the incident report in a text (a bug's comment 0, usually).

    The text is read line by line. A line is a **section heading** when, once its markup is
    taken off (``#`` of any level, ``**bold**``, ``*italic*``, ``<h3>`` tags, a leading number
    such as ``1.`` or ``2)``, a trailing ``:`` or `` -``), it is exactly a known section name,
    case and punctuation aside, or it begins with one of v1's topics (which reports paste whole).
    A plain line that is just a section name ("SUMMARY", "Timeline:") is a heading too, but a
    list item or a table row never is. Bugzilla's form labels ("Steps to reproduce:", "Actual
    results:", "Expected results:", "User Agent: ...") end a section and open none.

    A line is a **field** when it is ``**Name:** value``, ``**Name**: value``, ``Name: value``
    (each possibly a list item, nested or not) or a table row ``| **Name** | value |``, and the
    name is a known field's (a long question-like name may end with ``?`` instead of ``:``). A
    field named with nothing after it takes the next lines (40 at most) up to a blank line, a
    heading or another field. A table whose header row names the fields (one column a field) is
    not read.

    **Template guess**, first rule that holds:

    1. "v3" when the text has at least two v3 signals: v3 fields (CA Owner CCADB unique ID,
       Incident description, Timeline summary, Relevant policies, Source of incident
       disclosure, Total number of certificates, Affected certificate types, Incident heuristic,
       Was issuance stopped..., the closure fields, ...), the sections v3 introduced (Related
       Incidents, Report Closure Summary) and a "Full Incident Report" title (a "Preliminary
       Incident Report" title is no signal: v2 asked for preliminary reports too);
    2. "v1" when a section of a topic only v1 has is present (how the CA first became aware,
       whether it stopped issuance, the summary of the problematic certificates, the complete
       certificate data);
    3. "v2" when at least two of v2's sections are present (Incident Report or Preliminary
       Report title, Summary, Impact, Timeline, Root Cause Analysis, Lessons Learned, Action
       Items, Appendix, Finding);
    4. None otherwise (free text, Bugzilla's default form, a lone heading).

    Parameters
    ----------
    text : str
        Any text; anything but a ``str`` reads as the empty text.

    Returns
    -------
    IncidentReport
        Empty sections and fields, no template and no certificate types when nothing is found.
    """
    if not isinstance(text, str) or not text:
        return IncidentReport()
    lines = _CONTROL.sub(" ", text.translate(_QUOTES)).splitlines()
    memo: dict[str, _Line] = {}
    sections: dict[str, list[list[str]]] = {}    # each section's chunks of lines, one a heading
    fields: dict[str, str] = {}
    titles: set[str] = set()
    current: list[str] | None = None
    for i, line in enumerate(lines):
        if not line or line.isspace():
            if current is not None:
                current.append("\n")
            continue
        heading, found = _read_line(line, memo)
        if heading is not None:
            name, key = heading
            if name is None:            # a form label
                current = None
                continue
            titles.add(key)
            current = []
            sections.setdefault(name, []).append(current)
            continue
        if current is not None:
            current.append(line + "\n")
        if found is not None and found[0] not in fields:
            name, value = found
            fields[name] = value if value else "\n".join(_value_below(lines, i + 1, memo)[0])
    section_text = {name: "\n\n".join(t for t in ("".join(chunk).strip() for chunk in chunks) if t)
                    for name, chunks in sections.items()}
    types = _certificate_types(fields.get("affected_certificate_types", ""))
    return IncidentReport(sections=section_text, fields=fields,
                          template=_template(section_text, fields, titles), certificate_types=types)


def level_evidence(report: IncidentReport) -> frozenset[str] | None:
    """The misissuance tags the certificate types a report states allow.

    DV gives "dv-misissuance", OV "ov-misissuance", EV "ev-misissuance" and SMIME
    "smime-misissuance". IV gives nothing on its own: individual-validated is a validation type
    of TLS (rare) and of S/MIME alike, so IV alone does not say which; with SMIME stated it is
    the S/MIME one, which SMIME's tag already covers.

    Parameters
    ----------
    report : IncidentReport
        A parsed report.

    Returns
    -------
    frozenset of str or None
        The tags (possibly empty, for IV alone), or None when the report states no certificate
        types (no affected-certificate-types field, "N/A", or a value naming none).
    """
    types = report.certificate_types
    if not types:
        return None
    return frozenset(_LEVEL_TAGS[t] for t in types if t in _LEVEL_TAGS)


def stated_level_tags(text: str) -> frozenset[str] | None:
    """``level_evidence(parse_report(text))``, without reading a text that cannot hold the
    affected-certificate-types field: each of its names has "certificat" and "type" in it,
    and most comments 0 lack one of the two (the model asks this of every incident).
    """
    lowered = text.lower()
    if "certificat" not in lowered or "type" not in lowered:
        return None
    return level_evidence(parse_report(text))


def without_certificate_types(text: str) -> str:
    """``text`` without its affected-certificate-types field: the line naming it and, when the
    value is on the lines below, those lines (as :func:`parse_report` reads them).

    Every v3 report has the field, an outage's or a late revocation's as much as a
    misissuance's: its "DV and OV" says which certificates were touched, not what went wrong,
    so it is no text for the words a model learns from (``report_evidence`` reads it instead).
    Other text, and a text without the field, comes back as it was.
    """
    lowered = text.lower() if isinstance(text, str) else ""
    if "certificat" not in lowered or "type" not in lowered:
        return text
    lines = text.splitlines(keepends=True)
    # Read as parse_report reads them, line for line (a control character that splitlines
    # takes for a line break is a space there, so the text is not split again once cleaned).
    read = [_CONTROL.sub(" ", line.translate(_QUOTES)) for line in lines]
    memo: dict[str, _Line] = {}
    kept: list[str] = []
    i = 0
    while i < len(lines):
        heading, found = _read_line(read[i], memo)
        i += 1
        if heading is not None or found is None or found[0] != "affected_certificate_types":
            kept.append(lines[i - 1])
        elif not found[1]:
            i = _value_below(read, i, memo)[1]
    return text if len(kept) == len(lines) else "".join(kept)


#: The templates whose headings and field names are the same in every report (v1's topics are
#: not: a report answering "how your CA first became aware" was, before 2023, most often a
#: misissuance's, and leaving them out was measured to cost F1).
_SCAFFOLDED = ("v2", "v3")


def without_template(text: str) -> str:
    """In a v2 or v3 report, ``text`` without the template's scaffolding: its section headings
    (and Bugzilla's form labels) go, and a field's line keeps only its value (a field named
    on a line of its own loses that line; its value below stays).

    Every report of these templates says "Incident description", "Relevant policies", "Root
    Cause Analysis" and "Was issuance stopped in response to this incident", an outage's as
    much as a misissuance's, and the training incidents, mostly older, used those words in
    free text that told types apart: as features they would vote for whatever they meant there.
    A text of another template, or of none, comes back as it was (the same object).
    """
    if not isinstance(text, str) or parse_report(text).template not in _SCAFFOLDED:
        return text
    lines = text.splitlines(keepends=True)
    memo: dict[str, _Line] = {}
    kept: list[str] = []
    for line in lines:
        heading, found = _read_line(_CONTROL.sub(" ", line.translate(_QUOTES)), memo)
        if heading is not None:
            continue
        if found is None:
            kept.append(line)
        elif found[1]:
            kept.append(found[1] + "\n")
    return "".join(kept)


# --------------------------------------------------------------------------------------------
# Lines
# --------------------------------------------------------------------------------------------

def _norm(name: str) -> str:
    """A name without case, markup or punctuation: ``"**Root Cause(s):**"`` → ``"root causes"``."""
    name = name.lower().replace("'", "")
    if "(s)" in name:                   # "Root Cause(s)", "Relevant policy(s)"
        name = name.replace("y(s)", "ies").replace("(s)", "s")
    return " ".join(_NOT_WORD.sub(" ", name).split())


def _strip_markup(line: str) -> str:
    """A heading line without its markup: HTML tags, ``#``, emphasis, numbering, trailing ``:``."""
    s = (_HTML_EDGE.sub("", line) if "<" in line else line).strip(_EDGE_MARKUP)
    if s[:1].isdigit() or s[:1] in ("i", "v", "x", "I", "V", "X"):
        s = _NUMBERING.sub("", s, count=1).strip(_EDGE_MARKUP)
    return s


_Heading = tuple[str | None, str]   # (section or None for a form label, normalised heading)
_Field = tuple[str, str]            # (field, value)
_Line = tuple[_Heading | None, _Field | None]
_NOTHING: _Line = (None, None)


def _read_line(line: str, memo: dict[str, _Line]) -> _Line:
    """The heading a line is and the field it states (either None): a line whose first words
    begin no known name is neither, which is all most lines need to learn."""
    s = line.strip()
    if not s:
        return _NOTHING
    head = s[:64]
    if head[0] == "<":
        tags = _TAG_START.match(head)
        head = s[tags.end():tags.end() + 64] if tags else head
    lead = " ".join(head.lstrip(_LEAD_STRIP).lower().split())
    if lead[:1] in ("i", "v", "x"):     # a roman number: "II. Timeline", "I -- How your CA ..."
        number = _LEAD_NUMBER.match(lead)
        lead = lead[number.end():] if number else lead
    is_heading, is_field = lead.startswith(_HEADING_LEADS), lead.startswith(_FIELD_LEADS)
    if not (is_heading or is_field):
        return _NOTHING
    known = memo.get(s)
    if known is None:
        heading = _heading(s) if is_heading else None
        known = memo[s] = (heading, _field(s) if is_field and heading is None else None)
    return known


def _heading(s: str) -> _Heading | None:
    """The section a stripped line opens, None for a line that is no heading."""
    if s[0] == "|":
        return None
    bulleted = _BULLET.match(s) is not None     # a list item is a heading only when it is a v1 topic
    head = s[2:_MAX_HEADING * 2].lstrip() if bulleted else s[:_MAX_HEADING * 2]
    if not bulleted and ":" in head[:40]:
        label = _norm(head.split(":", 1)[0])
        if label in _FORM_LABELS:
            return None, label
    key = _norm(_strip_markup(head)[:_MAX_HEADING + 40])
    if not key:
        return None
    if not bulleted and len(s) <= _MAX_HEADING and key in _SECTION_NAMES:
        return _SECTION_NAMES[key], key
    if not key.startswith(_SECTION_PREFIX_KEYS):
        return None
    for prefix, name in _SECTION_PREFIXES:
        if key.startswith(prefix):
            if name == "finding" and (bulleted or not _is_finding(key)):
                continue
            return name, key
    return None


def _is_finding(key: str) -> bool:
    """Whether a heading is an audit finding's ("Finding #1", "Finding 2", "Finding 3: title")."""
    rest = key[len("finding "):]
    return rest[:1].isdigit() and len(rest) < 100


def _field(s: str) -> _Field | None:
    """The field a stripped line states and its value, or None."""
    if s[0] == "|":
        cells = s[:4000].strip("|").split("|", 2)
        if len(cells) < 2:
            return None
        name = _field_name(cells[0])
        if name is None or _field_name(cells[1]) is not None:     # a header row of field names
            return None
        return name, cells[1].strip().strip("*_").strip()
    s = _BULLET.sub("", s, count=1).lstrip()
    s = _ITEM_MARK.sub("", s, count=1).replace("\uff1a", ":")   # a full-width colon too
    head = s[:_MAX_NAME + 8]
    for sep in (":", "?"):
        at = head.find(sep)
        if at <= 0:
            continue
        name = _field_name(head[:at])
        if name:
            value = s[at + 1:].lstrip(":?").strip()
            value = value[2:] if value[:2] in ("**", "__") else value.lstrip("*_")
            return name, value.strip().rstrip("|").strip()
    return None


def _field_name(raw: str) -> str | None:
    key = _norm(raw)
    if key[:1].isdigit():               # numbered inside its markup: "**1. Affected ...**"
        number, _, rest = key.partition(" ")
        key = rest if number.isdigit() and len(number) <= 2 else key
    if not key or len(key) > _MAX_NAME:
        return None
    if key in _FIELD_NAMES:
        return _FIELD_NAMES[key]
    if not key.startswith(_FIELD_PREFIX_KEYS):
        return None
    for prefix, name in _FIELD_PREFIXES:
        if key.startswith(prefix):
            return name
    return None


def _value_below(lines: list[str], start: int, memo: dict[str, _Line]) -> tuple[list[str], int]:
    """The value of a field named on a line of its own: the next lines (after blank ones) up to a
    blank line, a heading or another field, :data:`_MAX_CONTINUATION` lines at most, stripped;
    and the index of the line after the last of them (``start`` when there is none)."""
    taken: list[str] = []
    end = start
    for k, line in enumerate(lines[start:start + _MAX_CONTINUATION * 4], start):
        s = line.strip()
        if not s:
            if taken:
                break
            continue
        if _read_line(s, memo) != _NOTHING or len(taken) == _MAX_CONTINUATION:
            break
        taken.append(s)
        end = k + 1
    return taken, end


# --------------------------------------------------------------------------------------------
# Conclusions
# --------------------------------------------------------------------------------------------

def _template(sections: dict[str, str], fields: dict[str, str], titles: set[str]) -> str | None:
    """The template guess of :func:`parse_report`."""
    v3 = len(_V3_FIELDS & fields.keys()) + len(_V3_SECTIONS & sections.keys()) + bool(_V3_TITLES & titles)
    if v3 >= 2:
        return "v3"
    if _V1_SECTIONS & sections.keys():
        return "v1"
    if len(_V2_SECTIONS & sections.keys()) >= 2:
        return "v2"
    return None


def _certificate_types(value: str) -> frozenset[str]:
    """The certificate types an affected-certificate-types value names.

    "organization-validated" and "individual-validated" are S/MIME validation types as well as
    TLS ones: when the value names S/MIME (S/MIME, mailbox- or sponsor-validated, an S/MIME
    policy OID) and nothing of TLS, OV is not taken (the S/MIME type covers it) and IV is kept
    beside SMIME. A clause that says some types were not affected ("OV; EV and DV not
    affected", "S/MIME (no TLS certificates)") names none.
    """
    v = value[:2000].lower()
    if not v.strip() or _NA.match(v.strip()):
        return frozenset()
    # What the value says was not affected is no type of it: only clauses without a negation count.
    v = " ; ".join(c for c in _CLAUSE.split(v) if not _NEGATED.search(c))
    types = {name for name, pattern in (("DV", _DV), ("OV", _OV), ("EV", _EV), ("IV", _IV)) if pattern.search(v)}
    if _SMIME.search(v):
        types.add("SMIME")
        if not _TLS.search(v):
            types.discard("OV")
    return frozenset(types)
