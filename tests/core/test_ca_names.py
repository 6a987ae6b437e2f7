"""The CA names file: the shipped one loads and merges the aliases the snapshot needs; a broken one
is refused with what is wrong; a running service sees an edit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from classifier import CANamesError, ca_name_from_summary, ca_written_in_summary
from core.ca_names import NO_CA, CANames, ca_key, current_ca_names


@pytest.fixture(scope="module")
def names() -> CANames:
    return CANames.load()


ALIASES = {
    "comodo": "Sectigo", "Sectigo": "Sectigo", "comodo/cpanel": "Sectigo",
    "quovadis / pkioverheid": "QuoVadis / PKIoverheid", "pkioverheid / quovadis": "QuoVadis / PKIoverheid",
    "PKIoverheid/QuoVadis": "QuoVadis / PKIoverheid", "certigna": "Certigna",
    "dhimyotis / certigna": "Certigna", "t-systems": "Telekom Security",
    "digicert / symantec": "DigiCert", "staat der nederlandend / pkioverheid": "PKIoverheid",
    "web.com": "Network Solutions", "docusign/keynectis": "DocuSign / Keynectis",
    # One company, two names each (from a review of the 2022-2023 briefing).
    "Taiwan-CA": "TWCA", "vikingcloud": "SecureTrust", "Sertifitseerimiskeskuse": "SK ID Solutions",
    "DFN-PKI": "Telekom Security", "Microsoft DSRE PKI": "Microsoft PKI Services",
}


@pytest.mark.parametrize("stored, shown", ALIASES.items())
def test_ca_names_listed(names: CANames, stored: str, shown: str):
    assert names.listed(stored) == shown


def test_ca_names_unlisted_shown_as_written(names: CANames):
    pairs = [("d-trust", "D-TRUST"), ("d-trust", "D-Trust"), ("d-trust", "D-TRUST"),
             ("netlock", "NetLock"), ("comodo", "Comodo"), ("", "")]
    assert names.listed("entrust") is None
    assert names.display_names(pairs) == {"d-trust": "D-TRUST", "netlock": "NetLock",
                                          "comodo": "Sectigo", "": NO_CA}


def test_ca_names_same_ca(names: CANames):
    stored = ["comodo", "sectigo", "comodo/cpanel", "sectigo / web.com", "entrust", "digicert"]
    assert names.same_ca("Sectigo", stored) == ["comodo", "sectigo", "comodo/cpanel", "sectigo / web.com"]
    assert names.same_ca("COMODO", stored) == names.same_ca("sectigo", stored)
    assert names.same_ca("Entrust", stored) == ["entrust"]
    assert names.same_ca("Nobody CA", stored) == []


def test_ca_key_and_written_name():
    assert ca_key("  Comodo/cPanel ") == "comodo / cpanel" == ca_key("COMODO  /  CPANEL")
    assert ca_written_in_summary("D-TRUST [Root]: CRL expired") == "D-TRUST"
    assert ca_name_from_summary("D-TRUST [Root]: CRL expired") == "d-trust"
    assert ca_written_in_summary("CRL expired") == ""


def test_ca_names_cover_the_snapshot_pairs(names: CANames):
    """Every alias group of issue 13 is one CA, and no name of the file is claimed twice."""
    groups = [("comodo", "sectigo"), ("quovadis / pkioverheid", "pkioverheid / quovadis"),
              ("certigna", "dhimyotis / certigna")]
    for group in groups:
        assert len({names.listed(n) for n in group}) == 1 and names.listed(group[0]) is not None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ca_names.toml"
    path.write_text(text, encoding="utf-8")
    return path


BROKEN = {
    "not toml": ("[[ca]\nname = 1", "not valid TOML"),
    "no name": ('[[ca]]\naliases = ["x"]', "ca[0]: 'name' must be a non-empty string"),
    "aliases a string": ('[[ca]]\nname = "Sectigo"\naliases = "comodo"', "ca[0] (Sectigo): 'aliases' must be a list"),
    "unknown key": ('[[ca]]\nname = "Sectigo"\nalias = ["comodo"]', "unknown key(s) ['alias']"),
    "unknown table": ('[cas]\nname = "Sectigo"', "unknown table(s) ['cas']"),
    "alias claimed twice": ('[[ca]]\nname = "Sectigo"\naliases = ["comodo"]\n[[ca]]\nname = "Comodo CA"\n'
                            'aliases = ["Comodo"]', "ca[1] (Comodo CA): 'Comodo' already belongs to ca[0] (Sectigo)"),
    "name is another's alias": ('[[ca]]\nname = "Sectigo"\naliases = ["comodo"]\n[[ca]]\nname = "COMODO"',
                                "'COMODO' already belongs to ca[0] (Sectigo)"),
    "note not text": ('[[ca]]\nname = "Sectigo"\nnote = 3', "'note' must be a string"),
}


@pytest.mark.parametrize("text, says", BROKEN.values(), ids=BROKEN.keys())
def test_ca_names_load_refuses(tmp_path: Path, text: str, says: str):
    path = _write(tmp_path, text)
    with pytest.raises(CANamesError) as caught:
        CANames.load(path)
    assert str(caught.value).startswith(str(path)) and says in str(caught.value)


def test_ca_names_load_missing(tmp_path: Path):
    with pytest.raises(CANamesError, match="no such CA names file"):
        CANames.load(tmp_path / "nope.toml")
    with pytest.raises(CANamesError, match="no such CA names file"):
        current_ca_names(tmp_path / "nope.toml")


def test_current_ca_names_follows_edits(tmp_path: Path):
    path = _write(tmp_path, '[[ca]]\nname = "Sectigo"\naliases = ["comodo"]\n')
    assert current_ca_names(path).listed("comodo") == "Sectigo"
    assert current_ca_names(path) is current_ca_names(path)  # read once while unchanged
    path.write_text('[[ca]]\nname = "Comodo CA"\naliases = ["comodo"]\n', encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert current_ca_names(path).listed("comodo") == "Comodo CA"
