"""The taxonomy: whiteboard tags normalised to canonical names, and tags mapped to briefing rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier import DEFAULT_TAXONOMY_FILE, Taxonomy, TaxonomyError, WhiteboardTags

BRIEFING_ROWS = ["CA Misissuance", "DV Misissuance", "OV Misissuance", "EV Misissuance",
                 "S/MIME Misissuance", "CRL Failures", "OCSP Failures", "Leaf Revocation Delays",
                 "Policy Failures", "Audit Delays and Findings"]


@pytest.mark.parametrize(("whiteboard", "tag"), [
    ("[ca-compliance] [delayed-revocation-leaf]", "leaf-revocation-delay"),
    ("[ca-compliance] [delayed-revocation-ca]", "ca-revocation-delay"),
    ("[ca-compliance] [Delayed-Revocation-Leaf]", "leaf-revocation-delay"),
])
def test_parse_whiteboard_legacy_name(taxonomy: Taxonomy, whiteboard: str, tag: str) -> None:
    tags = taxonomy.parse_whiteboard(whiteboard)
    assert tags.types == (tag,)
    assert tags.unknown == ()


@pytest.mark.parametrize(("whiteboard", "expected"), [
    ("[ca compliance]", WhiteboardTags(meta=("ca-compliance",))),
    ("[ca-compliance] [verif?]", WhiteboardTags(meta=("ca-compliance", "verif?"))),
    ("[CA-Compliance] [OV-MISISSUANCE]",
     WhiteboardTags(types=("ov-misissuance",), meta=("ca-compliance",))),
    ("  [  ov-misissuance  ]    [ca-compliance]  ",
     WhiteboardTags(types=("ov-misissuance",), meta=("ca-compliance",))),
    ("[ca-compliance][dv-misissuance]",
     WhiteboardTags(types=("dv-misissuance",), meta=("ca-compliance",))),
    ("[ca-compliance] audit-finding]",
     WhiteboardTags(types=("audit-finding",), meta=("ca-compliance",))),
    ("[ca-compliance] [crl-failure] [ocsp-failure] Next update 2023-04-30",
     WhiteboardTags(types=("crl-failure", "ocsp-failure"), meta=("ca-compliance",))),
    ("[ocsp-failure] [OCSP-Failure] [ ocsp-failure]", WhiteboardTags(types=("ocsp-failure",))),
])
def test_parse_whiteboard_odd_spelling(taxonomy: Taxonomy, whiteboard: str,
                                       expected: WhiteboardTags) -> None:
    assert taxonomy.parse_whiteboard(whiteboard) == expected


def test_parse_whiteboard_unknown_tag_kept(taxonomy: Taxonomy) -> None:
    tags = taxonomy.parse_whiteboard("[ca-compliance] [Quantum-Failure] [ov-misissuance] "
                                     "[Needs  Triage]")
    assert tags.unknown == ("quantum-failure", "needs triage")
    assert tags.types == ("ov-misissuance",)
    assert tags.all == ("ov-misissuance", "ca-compliance", "quantum-failure", "needs triage")


@pytest.mark.parametrize("whiteboard", [None, "", "Next update 2023-04-30", "   "])
def test_parse_whiteboard_without_tags(taxonomy: Taxonomy, whiteboard: str | None) -> None:
    assert taxonomy.parse_whiteboard(whiteboard) == WhiteboardTags()


@pytest.mark.parametrize(("raw", "canonical"), [
    ("delayed-revocation-leaf", "leaf-revocation-delay"),
    ("CA Compliance", "ca-compliance"),
    ("  Some   New-Tag ", "some new-tag"),
])
def test_canonical_tag(taxonomy: Taxonomy, raw: str, canonical: str) -> None:
    assert taxonomy.canonical(raw) == canonical


@pytest.mark.parametrize("tags", [["audit-failure"], ["disclosure-failure", "ca-revocation-delay"],
                                  ["no-such-tag"], []])
def test_categories_of_tags_in_no_category(taxonomy: Taxonomy, tags: list[str]) -> None:
    assert taxonomy.categories_of(tags) == []


def test_categories_of_several_tags_in_briefing_order(taxonomy: Taxonomy) -> None:
    tags = ["audit-finding", "smime-misissuance", "ocsp-failure", "audit-failure", "ca-misissuance"]
    assert taxonomy.categories_of(tags) == ["CA Misissuance", "S/MIME Misissuance",
                                            "OCSP Failures", "Audit Delays and Findings"]


def test_categories_of_two_tags_one_category_counted_once(taxonomy: Taxonomy) -> None:
    assert taxonomy.categories_of(["audit-delay", "audit-finding"]) == ["Audit Delays and Findings"]


def test_categories_of_legacy_and_odd_spellings(taxonomy: Taxonomy) -> None:
    assert taxonomy.categories_of(["delayed-revocation-leaf", "OCSP-Failure"]) == [
        "OCSP Failures", "Leaf Revocation Delays"]


def test_load_default_taxonomy(taxonomy: Taxonomy) -> None:
    assert list(taxonomy.categories) == BRIEFING_ROWS
    readme_tags = {"ca-misissuance", "dv-misissuance", "ov-misissuance", "ev-misissuance",
                   "smime-misissuance", "crl-failure", "ocsp-failure", "leaf-revocation-delay",
                   "policy-failure", "audit-delay", "audit-finding", "audit-failure",
                   "disclosure-failure", "ca-revocation-delay"}
    assert readme_tags <= set(taxonomy.type_tags)
    assert {"ca-compliance", "uncategorized", "verif?"} <= taxonomy.meta_tags
    assert Taxonomy.load(DEFAULT_TAXONOMY_FILE) == taxonomy


def test_load_taxonomy_maintainers_mapping(tmp_path: Path, taxonomy: Taxonomy) -> None:
    """The mapping is data: a maintainer's file moves a tag to another row without code changes."""
    path = tmp_path / "taxonomy.toml"
    path.write_text(
        '[categories]\norder = ["Revocation", "Other"]\n'
        '[tags.leaf-revocation-delay]\ncategories = ["Revocation", "Other"]\n'
        'aliases = ["delayed-revocation-leaf"]\n'
        '[tags.ocsp-failure]\ncategories = ["Other"]\n'
        '[meta]\ntags = ["ca-compliance"]\n', encoding="utf-8")
    custom = Taxonomy.load(path)
    assert custom.categories_of(["ocsp-failure", "delayed-revocation-leaf"]) == ["Revocation",
                                                                                 "Other"]
    assert custom.parse_whiteboard("[ca-compliance] [crl-failure]").unknown == ("crl-failure",)
    assert taxonomy.categories_of(["ocsp-failure"]) == ["OCSP Failures"]


@pytest.mark.parametrize(("content", "problem"), [
    ("[categories\norder = [", "not valid TOML"),
    ('[tags.ocsp-failure]\ncategories = ["OCSP Failures"]\n', "needs [categories] order"),
    ('[categories]\norder = ["A"]\n', "needs [categories] order"),
    ('[categories]\norder = "A"\n[tags.x]\ncategories = ["A"]\n', "must be a list of strings"),
    ('[categories]\norder = ["A"]\n[tags.x]\ncategories = ["B"]\n', "unknown categories ['B']"),
    ('[categories]\norder = ["A"]\n[tags.x]\ncategories = "A"\n', "must be a list of strings"),
    ('[categories]\norder = ["A"]\n[tags.x]\ncategories = ["A"]\naliases = "old-x"\n',
     "must be a list of strings"),
    ('[categories]\norder = ["A"]\n[tags]\nx = "A"\n', "[tags] must hold"),
    ('meta = ["x"]\n[categories]\norder = ["A"]\n[tags.x]\ncategories = ["A"]\n', "[meta]"),
    ('[categories]\norder = ["A"]\n[tags.x]\ncategories = ["A"]\n[meta]\naliases = ["y"]\n',
     "[meta]"),
    # In double quotes TOML reads \b as a backspace: the cue loaded and never matched.
    ('[categories]\norder = ["A"]\n[tags.x]\ncategories = ["A"]\ncue = "\\bsct"\n',
     "cue holds the control character(s) '\\x08'; write the pattern in single quotes"),
])
def test_load_taxonomy_malformed(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "taxonomy.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TaxonomyError) as info:
        Taxonomy.load(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)


def test_load_taxonomy_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="no such taxonomy file"):
        Taxonomy.load(tmp_path / "absent.toml")
