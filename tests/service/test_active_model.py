"""ActiveModel: following the ACTIVE file without failing or blocking requests in flight."""

from __future__ import annotations

import os
import platform
import shutil
import threading
import time
from pathlib import Path

import pytest

from classifier import Incident, Taxonomy
from core.classification import classify
from core.registry import LoadedModel, ModelRegistry
from service.active_model import ActiveModel
from service.memory import give_back_memory, limit_arenas
from tests.fixtures import SQLITE_ONLY, second_version

INCIDENT = Incident(summary="Nimbus Trust: OCSP responder returned unknown")


@pytest.fixture
def models_dir(tmp_path: Path, trained_models: Path) -> Path:
    """A copy of the small trained model (no store needed, so no database parameter)."""
    return Path(shutil.copytree(trained_models, tmp_path / "models"))


def test_reference_taken_before_promote_still_works(models_dir: Path, taxonomy: Taxonomy):
    registry = ModelRegistry(models_dir)
    active = ActiveModel(registry, check_interval=0)
    in_flight = active.current()
    registry.promote(second_version(models_dir))
    assert active.current().version == "v2"
    assert in_flight.version == "v1"
    assert classify(in_flight, [INCIDENT], taxonomy)[0].model_version == "v1"


class SlowRegistry(ModelRegistry):
    """A registry whose loads wait until the test lets them finish."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.entered = threading.Event()
        self.release = threading.Event()

    def load(self, version: str | None = None, *, isolated: bool = False) -> LoadedModel:
        if version == "v2":
            self.entered.set()
            assert self.release.wait(10)
        return super().load(version, isolated=isolated)


def test_others_do_not_wait_for_a_load(models_dir: Path):
    registry = SlowRegistry(models_dir)
    active = ActiveModel(registry, check_interval=0)
    assert active.current().version == "v1"
    version = second_version(models_dir)
    (models_dir / "ACTIVE").write_text(version + "\n")  # what promote writes (it loads first)
    loader = threading.Thread(target=active.current)
    loader.start()
    assert registry.entered.wait(10)
    assert active.current().version == "v1"  # answered at once, with the model in service
    registry.release.set()
    loader.join(10)
    assert active.current().version == "v2"


def test_active_file_read_at_most_once_an_interval_and_switches_in_the_background(models_dir: Path):
    """With an interval (the service's default 1 s), the request that sees ACTIVE change does
    not load the new version itself: it loads in a thread of its own while every request,
    that one included, goes on with the current one. An operator's review measured the request
    that saw the change wait 4 to 13 s, a readiness probe included."""
    now = [0.0]
    registry = SlowRegistry(models_dir)
    active = ActiveModel(registry, check_interval=1.0, clock=lambda: now[0])
    assert active.current().version == "v1"
    version = second_version(models_dir)
    (models_dir / "ACTIVE").write_text(version + "\n")
    now[0] = 0.99
    assert active.current().version == "v1"  # not looked at yet
    assert not registry.entered.is_set()
    now[0] = 1.0
    assert active.current().version == "v1"  # looked at: the load starts, and no one waits
    assert registry.entered.wait(10)
    now[0] = 2.0
    assert active.current().version == "v1"  # still loading: not started twice
    registry.release.set()
    assert active.refresh().version == "v2"  # waits for the load under way
    assert active.current().version == "v2" and active.error is None


class RecordingRegistry(ModelRegistry):
    """A registry that notes how each version was loaded."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.loads: list[tuple[str | None, bool]] = []

    def load(self, version: str | None = None, *, isolated: bool = False) -> LoadedModel:
        self.loads.append((version, isolated))
        return super().load(version, isolated=isolated)


@pytest.mark.parametrize("isolate", [True, False])
def test_switches_load_in_a_loader_process(models_dir: Path, taxonomy: Taxonomy, isolate: bool):
    """The startup's version loads in the server; a promoted one in a child process (unless
    told not to), and answers as it would loaded here."""
    registry = RecordingRegistry(models_dir)
    active = ActiveModel(registry, check_interval=0, isolate_switches=isolate)
    assert active.current().version == "v1"
    version = second_version(models_dir)
    ModelRegistry(models_dir).promote(version)
    switched = active.current()
    assert switched.version == version
    assert registry.loads == [("v1", False), (version, isolate)]
    here = ModelRegistry(models_dir).load(version)
    assert classify(switched, [INCIDENT], taxonomy) == classify(here, [INCIDENT], taxonomy)


def test_a_failed_load_is_tried_again_later(models_dir: Path):
    """A worker that started while the artefact was bad served no model until restarted, even
    after the file was mended (an operator's review: /ready flapped 200 / 503 between workers)."""
    artefact = models_dir / "v1" / "model.skops"
    good = artefact.read_bytes()
    artefact.write_bytes(good[:-7] + b"tamper!")
    now = [100.0]
    active = ActiveModel(ModelRegistry(models_dir), check_interval=0, clock=lambda: now[0],
                         retry_after=30.0)
    assert active.current() is None
    assert active.error.startswith("active version v1 could not be loaded: its artefact was changed")
    artefact.write_bytes(good)
    now[0] = 129.9
    assert active.current() is None  # not before retry_after
    now[0] = 130.0
    assert active.current().version == "v1"
    assert active.error is None


def test_no_active_version(tmp_path: Path):
    active = ActiveModel(ModelRegistry(tmp_path / "models"), check_interval=0)
    assert active.current() is None
    assert active.error == "no active model"  # the advice is the answer's (service.deps.no_model)


def test_models_folder_that_is_a_file_is_said_so(tmp_path: Path, models_dir: Path):
    """INCIDENTS_MODELS_DIR at a file: the error says so (it said only "no model is loaded"),
    with the version still in service when there is one, and clears once ACTIVE reads again."""
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("")
    nothing = ActiveModel(ModelRegistry(not_a_folder), check_interval=0)
    assert nothing.current() is None
    assert nothing.error == "INCIDENTS_MODELS_DIR is not a folder; point it at the models folder"

    registry = ModelRegistry(models_dir)
    active = ActiveModel(registry, check_interval=0)
    assert active.current().version == "v1" and active.error is None
    (models_dir / "ACTIVE").unlink()
    (models_dir / "ACTIVE").mkdir()  # read as a folder: IsADirectoryError
    assert active.current().version == "v1"
    assert active.error == "the active version could not be read (IsADirectoryError); serving v1"
    (models_dir / "ACTIVE").rmdir()
    (models_dir / "ACTIVE").write_bytes(b"\xff\xfev1")  # not text: the registry's ModelError
    assert active.current().version == "v1"
    assert active.error == ("ACTIVE in the models folder does not name a version (not text); "
                            "promote one with `incidents models promote`; serving v1")
    (models_dir / "ACTIVE").write_text("v1")
    assert active.current().version == "v1" and active.error is None


@SQLITE_ONLY
def test_active_not_text_is_not_ready(make_client, models_dir: Path):
    """ACTIVE that is not text: /ready says so (503) and the routes that need no model still
    answer (they answered 500, then 409, on every route)."""
    (models_dir / "ACTIVE").write_bytes(b"\xff\xfe")
    client = make_client()
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["ACTIVE in the models folder does not name a version (not "
                                        "text); promote one with `incidents models promote`"]
    assert client.get("/models").status_code == 200
    assert client.get("/health").status_code == 200
    assert client.post("/classify", json={"summary": "Nimbus: OCSP down"}).status_code == 503


@SQLITE_ONLY
def test_an_idle_worker_follows_a_promotion(make_client, models_dir: Path):
    """A worker took a promotion up only with its next request, and loaded it then: one left
    idle served the old version to its first caller (an operator's review: 20 s after a
    promotion, with no traffic, every worker still served v1)."""
    active = make_client(model_check_interval=0.05).app.state.active_model
    assert active.loaded.version == "v1"
    version = second_version(models_dir)
    ModelRegistry(models_dir).promote(version)
    deadline = time.monotonic() + 60
    while active.loaded.version != version:  # no request is made
        assert time.monotonic() < deadline, active.error
        time.sleep(0.05)


def test_ready_names_a_models_folder_that_is_a_file(make_client, tmp_path: Path):
    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("")
    ready = make_client(models_dir=not_a_folder).get("/ready")
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["INCIDENTS_MODELS_DIR is not a folder; point it at the models folder"]


@SQLITE_ONLY
def test_promoted_over_model_is_freed(client, models_dir: Path, monkeypatch: pytest.MonkeyPatch):
    """After a promotion, the version it replaced is no longer held by the service, and once
    collected its memory is handed back (a soak run found the startup's model kept for the
    service's life, and freed models kept in the heap: memory grew with each promotion)."""
    import gc
    import weakref

    from service import active_model
    from tests.fixtures import new_bug

    given_back: list[bool] = []
    monkeypatch.setattr(active_model, "give_back_memory", lambda: given_back.append(True))
    assert client.post("/classify", json=new_bug(1_950_100)).json()["model_version"] == "v1"
    first = weakref.ref(client.app.state.active_model.current().model)
    ModelRegistry(models_dir).promote(second_version(models_dir))
    assert client.post("/classify", json=new_bug(1_950_101)).json()["model_version"] == "v2"
    gc.collect()
    assert first() is None
    assert given_back == [True]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc tuning")
def test_heap_tuning_on_glibc(monkeypatch: pytest.MonkeyPatch):
    assert give_back_memory() is True
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_arenas() is True
    assert os.environ["MALLOC_ARENA_MAX"] == "2"  # for the worker processes
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the operator's choice stays
    assert limit_arenas() is True and os.environ["MALLOC_ARENA_MAX"] == "4"
