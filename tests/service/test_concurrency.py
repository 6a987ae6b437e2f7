"""Many clients at once against a real `incidents serve --workers 2`: one incident and one
prediction per bug and model version, whatever the interleaving; one retraining at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx2
from sqlalchemy import func, select

from core.db import session_scope
from core.tables import IncidentRow, PredictionRow
from tests.fixtures import first_ready, incidents_serve, maintainer_headers, new_bug

CLIENTS = 8


def test_classify_incident_from_many_clients_at_once(tmp_path: Path, trained_models: Path,
                                                     database_url: str) -> None:
    bugs = [new_bug(1_990_000 + i) for i in range(2)]
    with incidents_serve(tmp_path, trained_models, "--workers", "2",
                         database_url=database_url) as (process, base, log):
        assert first_ready(process, base, log).status_code == 200
        auth = maintainer_headers(database_url)  # the server migrated the store
        start = threading.Barrier(CLIENTS)
        answers: list[tuple[int, str]] = []

        def client(n: int) -> None:
            with httpx2.Client(base_url=base, timeout=60) as http:
                start.wait()
                for bug in (bugs if n % 2 else bugs[::-1]):  # every bug, in both orders
                    answer = http.post("/classify", json=bug, headers=auth)
                    answers.append((answer.status_code, answer.text))
                batch = http.post("/classify/batch", json={"bugs": bugs}, headers=auth)
                answers.append((batch.status_code, batch.text))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [text for status, text in answers if status != 200] == []
    assert len(answers) == CLIENTS * (len(bugs) + 1)
    ids = [bug["id"] for bug in bugs]
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(IncidentRow)
                              .where(IncidentRow.id.in_(ids))) == len(bugs)
        per_version = session.execute(
            select(PredictionRow.incident_id, PredictionRow.model_version, func.count())
            .where(PredictionRow.incident_id.in_(ids))
            .group_by(PredictionRow.incident_id, PredictionRow.model_version)).all()
    assert sorted(per_version) == [(bug_id, "v1", 1) for bug_id in ids]
