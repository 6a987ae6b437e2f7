"""GET /review: the work left to do, the active model's flagged predictions of incidents no human
labelled, least sure first; filtered by period and CA, paged, with the total count."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.fixtures import CAS, new_bug

#: Vague reports, which the small model is unsure of, and clear ones, which it is not.
VAGUE = ["Incident report", "Problem with some certificates", "Compliance issue found in audit",
         "Delayed response to a problem report", "Certificates issued with an error",
         "Late disclosure of an issue"]
CLEAR = ["OCSP responder returned unknown for valid certificates", "CRL expired and was not refreshed"]


@pytest.fixture
def bugs() -> list[dict]:
    """Untagged bugs, filed in 2019 and 2020, of several CAs (two a CA)."""
    summaries = [*VAGUE, *CLEAR] * 2
    return [new_bug(1_800_000 + i, summary=f"{CAS[i % len(CAS)]}: {text}", description=text,
                    creation_time=f"{2019 + i % 2}-0{1 + i % 9}-10T12:00:00Z")
            for i, text in enumerate(summaries)]


@pytest.fixture
def untagged(client: TestClient, bugs: list[dict], maintainer_no_bugs: dict[str, str]) -> list[dict]:
    """The bugs classified: their labels are predictions; those flagged are the queue."""
    response = client.post("/classify/batch", json={"bugs": bugs}, headers=maintainer_no_bugs)
    assert response.status_code == 200
    flagged = [r for r in response.json()["data"] if r["needs_review"]]
    assert 4 <= len(flagged) < len(bugs)  # the queue is not every prediction
    return flagged


def test_read_review_queue(client: TestClient, untagged, maintainer):
    response = client.get("/review", params={"limit": 100})
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "v1"
    assert body["count"] == len(untagged) == len(body["data"])
    assert {item["id"] for item in body["data"]} == {r["id"] for r in untagged}
    assert all(item["needs_review"] for item in body["data"])
    confidences = [item["confidence"] for item in body["data"]]
    assert confidences == sorted(confidences)
    first = body["data"][0]
    assert {"id", "summary", "tags", "needs_review", "confidence", "top_scores", "ca_name",
            "creation_time", "review_reason"} <= set(first)
    # Each says why, as /classify said it when the bug was classified and stored.
    said = {r["id"]: r["review_reason"] for r in untagged}
    assert all(item["review_reason"] and item["review_reason"] == said[item["id"]]
               for item in body["data"])
    record = client.get(f"/incidents/{first['id']}").json()
    assert [p["review_reason"] for p in record["predictions"]] == [first["review_reason"]]
    # Its CA as the record and the briefing name it, beside the store's lower-case key.
    assert first["ca"] == record["ca"] and first["ca"] != first["ca_name"]
    assert first["ca"].lower() == first["ca_name"]
    assert len(first["top_scores"]) == 3
    assert list(first["top_scores"].values()) == sorted(first["top_scores"].values(), reverse=True)

    client.post("/corrections", headers=maintainer, json={"bug_id": first["id"], "tags": []})
    after = client.get("/review", params={"limit": 100}).json()
    assert after["count"] == len(untagged) - 1
    assert first["id"] not in [item["id"] for item in after["data"]]


def test_read_review_queue_pages(client: TestClient, untagged):
    whole = client.get("/review", params={"limit": 100}).json()["data"]
    page = client.get("/review", params={"limit": 2, "offset": 2}).json()
    assert page["data"] == whole[2:4]
    assert page["count"] == len(whole) and (page["limit"], page["offset"]) == (2, 2)


def test_read_review_queue_by_period_and_ca(client: TestClient, untagged, bugs):
    filed = {b["id"]: b["creation_time"][:4] for b in bugs}
    in_2019 = client.get("/review", params={"start": "2019-01-01", "end": "2019-12-31", "limit": 100}).json()
    # Closed, with no resolution or comment time: open in 2019 when filed in 2019.
    assert {i["id"] for i in in_2019["data"]} == {r["id"] for r in untagged if filed[r["id"]] == "2019"}
    assert in_2019["count"] == len(in_2019["data"])
    summaries = {b["id"]: b["summary"] for b in bugs}
    ca = summaries[untagged[0]["id"]].split(":")[0]
    by_ca = client.get("/review", params={"ca": ca.upper(), "limit": 100}).json()
    assert {i["id"] for i in by_ca["data"]} == {r["id"] for r in untagged
                                                 if summaries[r["id"]].startswith(f"{ca}:")}
    assert by_ca["count"] == len(by_ca["data"]) >= 1
    # A blank CA (a form's "any CA") filters nothing: it found no incident at all.
    everyone = client.get("/review", params={"limit": 100}).json()
    assert client.get("/review", params={"ca": " ", "limit": 100}).json() == everyone
    assert everyone["count"] > by_ca["count"]


def test_read_review_queue_leaves_out_tagged_and_duplicates(client: TestClient, untagged, bugs,
                                                            maintainer_no_bugs):
    flagged = untagged[0]["id"]
    bug = next(b for b in bugs if b["id"] == flagged)
    assert client.post("/classify", json={**bug, "resolution": "DUPLICATE"},
                       headers=maintainer_no_bugs).status_code == 200
    assert flagged not in {i["id"] for i in client.get("/review", params={"limit": 100}).json()["data"]}
    second = untagged[1]["id"]
    bug = next(b for b in bugs if b["id"] == second)
    tagged = {**bug, "whiteboard": "[ca-compliance] [crl-failure]"}  # Mozilla tagged it
    assert client.post("/classify", json=tagged, headers=maintainer_no_bugs).status_code == 200
    body = client.get("/review", params={"limit": 100}).json()
    assert second not in {i["id"] for i in body["data"]} and body["count"] == len(untagged) - 2


@pytest.mark.parametrize("params, loc", [
    ({"start": "soon"}, ["query", "start"]),
    ({"start": "2020-01-01", "end": "2019-01-01"}, ["query", "start"]),
    ({"end": "2019-02-30"}, ["query", "end"]),
    ({"limit": 0}, ["query", "limit"]),
    ({"offset": -1}, ["query", "offset"]),
])
def test_read_review_queue_bad_filters(client: TestClient, params, loc):
    response = client.get("/review", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_read_review_queue_reversed_period_in_the_words_typed(client: TestClient):
    # As `incidents review` and GET /aggregate say it: the days given, not the times they mean.
    response = client.get("/review", params={"start": "2020-01-01", "end": "2019-01-01"})
    assert response.status_code == 422
    assert response.json()["detail"][0] == {"type": "value_error", "loc": ["query", "start"],
                                         "msg": "2020-01-01 is after end 2019-01-01"}


def test_read_review_queue_only_active_version(client: TestClient, store):
    body = client.get("/review").json()
    assert body["data"] == [] and body["count"] == 0 and body["model_version"] == "v1"


def test_read_review_queue_without_model(client_without_model: TestClient, store):
    body = client_without_model.get("/review").json()
    assert body["data"] == [] and body["count"] == 0 and body["model_version"] is None
