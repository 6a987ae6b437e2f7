"""`incidents models list | show | promote | rollback`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.registry import ModelRegistry

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def add_versions(models_dir: Path, *versions: str) -> None:
    """Copies of v1 under other version names (the artefact and its sha256 stay valid)."""
    for version in versions:
        shutil.copytree(models_dir / "v1", models_dir / version)
        card_path = models_dir / version / "card.json"
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card_path.write_text(json.dumps({**card, "version": version}), encoding="utf-8")


def active(models_dir: Path) -> str:
    return (models_dir / "ACTIVE").read_text(encoding="utf-8").strip()


def test_list_models(incidents, models_dir: Path) -> None:
    add_versions(models_dir, "v2", "v10")
    lines = incidents.ok("models", "list").stdout.splitlines()
    assert [line[:8] for line in lines] == ["* v1    ", "  v2    ", "  v10   "]
    card = ModelRegistry(models_dir).card("v1")
    assert card["created_at"][:19] in lines[0]
    assert "48 incidents" in lines[0]
    f1 = card["metrics"]["contenders"]["model"]["category_micro_f1"]
    assert f"micro-F1 {f1:.3f}" in lines[0]


def test_list_models_none(incidents, settings) -> None:
    result = incidents.ok("models", "list")
    assert result.stdout.strip() == (f"no model versions in {settings.models_dir}; "
                                     "run `incidents train`")


def test_show_model(incidents, models_dir: Path) -> None:
    result = incidents.ok("models", "show", "v1")
    assert json.loads(result.stdout) == ModelRegistry(models_dir).card("v1")


@pytest.mark.parametrize("version", ["v9", "latest", "../v1"])
def test_show_model_unknown(incidents, models_dir: Path, version: str) -> None:
    incidents.fails("models", "show", version, says=(f"no model version {version!r}",))


def test_promote_model(incidents, models_dir: Path) -> None:
    add_versions(models_dir, "v2")
    result = incidents.ok("models", "promote", "v2")
    assert result.stdout.strip() == "active version: v2 (was v1)"
    assert active(models_dir) == "v2"
    assert ModelRegistry(models_dir).history()[-1]["active"] == "v2"
    assert incidents.ok("models", "list").stdout.splitlines()[1].startswith("* v2")


def test_promote_model_unknown(incidents, models_dir: Path) -> None:
    result = incidents.fails("models", "promote", "v7", says=("no model version 'v7'",))
    assert result.exit_code == 1
    assert active(models_dir) == "v1"


@pytest.mark.parametrize("spoil", ["flip-byte", "remove-sha256"])
def test_promote_model_tampered(incidents, models_dir: Path, spoil: str) -> None:
    add_versions(models_dir, "v2")
    artefact = models_dir / "v2" / "model.skops"
    if spoil == "flip-byte":
        data = bytearray(artefact.read_bytes())
        data[-10] ^= 0xFF
        artefact.write_bytes(bytes(data))
    else:
        (models_dir / "v2" / "model.skops.sha256").unlink()
    history = (models_dir / "history.jsonl").read_text(encoding="utf-8")
    incidents.fails("models", "promote", "v2", says=(str(artefact), "sha256"))
    assert active(models_dir) == "v1"
    assert (models_dir / "history.jsonl").read_text(encoding="utf-8") == history


def test_rollback_models_walks_back(incidents, models_dir: Path) -> None:
    add_versions(models_dir, "v2", "v3")
    incidents.ok("models", "promote", "v2")
    incidents.ok("models", "promote", "v3")
    first = incidents.ok("models", "rollback")
    assert first.stdout.strip() == "active version: v2 (rolled back from v3)"
    assert active(models_dir) == "v2"
    second = incidents.ok("models", "rollback")
    assert second.stdout.strip() == "active version: v1 (rolled back from v2)"
    assert active(models_dir) == "v1"
    incidents.fails("models", "rollback", says=("v1 has no earlier active version",))
    assert active(models_dir) == "v1"


def test_rollback_models_none(incidents, settings) -> None:
    incidents.fails("models", "rollback", says=("nothing has no earlier active version",))
