"""Small Bugzilla-shaped data sets written for the tests (the real snapshot is never copied)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

CAS = ["Acme Trust", "Borealis CA", "Cobalt PKI", "Dunmore Sign", "Estuary Certs", "Fjord Root",
       "Granite CA", "Harbor Trust"]

# Per tag: summary templates and sentences a comment 0 of that type would say.
TEMPLATES: dict[str, tuple[list[str], list[str]]] = {
    "ocsp-failure": (
        ["OCSP responder returned unknown for valid certificates",
         "OCSP responses signed with expired responder certificate",
         "OCSP service outage for issuing CA"],
        ["Our OCSP responder answered with malformed responses.",
         "The OCSP response was not available for several hours.",
         "Relying parties received OCSP tryLater errors."]),
    "crl-failure": (
        ["CRL expired and was not refreshed", "CRL not served from the published URL",
         "Malformed CRL published by intermediate"],
        ["The CRL nextUpdate passed before a new CRL was published.",
         "The CRL distribution point returned HTTP 404.",
         "The CRL encoding was invalid DER."]),
    "ev-misissuance": (
        ["EV certificates with wrong jurisdiction fields", "EV certificate missing business category",
         "EV serialNumber field incorrectly encoded"],
        ["The EV Guidelines require jurisdictionCountryName.",
         "Extended validation certificates were issued with the wrong businessCategory.",
         "Our EV vetting missed the registration number."]),
    "leaf-revocation-delay": (
        ["Delayed revocation of misissued certificates", "Failure to revoke within 5 days",
         "Revocation delay for subscriber certificates"],
        ["We did not revoke the affected certificates within the BR deadline.",
         "Revocation was delayed because subscribers asked for more time.",
         "The certificates were revoked late, after 5 days."]),
}


def make_bugs(n_per_tag: int = 12, seed: int = 7, start_year: int = 2019) -> tuple[dict, dict]:
    """A ``bugs.json`` and a ``comments.json`` payload, in Bugzilla's REST shapes.

    Every bug has one type tag; a few carry a second one, a legacy name or an odd meta tag, and
    filing times run from ``start_year`` onwards in tag-interleaved order.
    """
    rng = random.Random(seed)
    bugs: list[dict[str, Any]] = []
    comments: dict[str, Any] = {}
    tags = list(TEMPLATES)
    bug_id = 1_500_000
    for i in range(n_per_tag):
        for tag in tags:
            bug_id += 1
            summaries, sentences = TEMPLATES[tag]
            ca = CAS[(i + tags.index(tag)) % len(CAS)]
            month = 1 + (i * len(tags) + tags.index(tag)) % 12
            year = start_year + (i * len(tags) + tags.index(tag)) // 12
            whiteboard = f"[ca-compliance] [{tag}]"
            if tag == "leaf-revocation-delay" and i % 3 == 0:
                whiteboard = "[ca-compliance] [delayed-revocation-leaf]"
            if tag == "ev-misissuance" and i % 4 == 0:
                whiteboard += " [leaf-revocation-delay]"
            if i % 5 == 0:
                whiteboard += " [verif?] Next update 2023-04-30"
            bugs.append({
                "id": bug_id,
                "product": "CA Program",
                "component": "CA Certificate Compliance",
                "summary": f"{ca}: {rng.choice(summaries)}",
                "whiteboard": whiteboard,
                "creation_time": f"{year}-{month:02d}-{1 + i % 27:02d}T12:00:00Z",
                "status": "RESOLVED",
                "resolution": "FIXED",
                "creator_domain": rng.choice([ca.split()[0].lower() + ".com", "gmail.com"]),
            })
            text = " ".join(rng.sample(sentences, k=2))
            comments[str(bug_id)] = {"comments": [{
                "bug_id": bug_id, "count": 0, "is_private": False,
                "creation_time": bugs[-1]["creation_time"],
                "text": f"## Incident Report\n\n{text}\n\nSummary: {bugs[-1]['summary']}",
            }]}
    return {"bugs": bugs}, {"bugs": comments, "comments": {}}


def write_snapshot(folder: Path, bugs: dict | None = None, comments: dict | None = None) -> Path:
    """Write a snapshot folder (``bugs.json``, ``comments.json``) and return it."""
    if bugs is None or comments is None:
        made_bugs, made_comments = make_bugs()
        bugs = made_bugs if bugs is None else bugs
        comments = made_comments if comments is None else comments
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bugs.json").write_text(json.dumps(bugs), encoding="utf-8")
    (folder / "comments.json").write_text(json.dumps(comments), encoding="utf-8")
    return folder
