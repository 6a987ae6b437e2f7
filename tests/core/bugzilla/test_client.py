"""The REST client against the stand-in: queries, paging, retries, refusals and the API key."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from classifier import BugzillaUnavailable, IncidentError
from core.bugzilla.client import API_KEY_HEADER, BUG_FIELDS, BugzillaClient
from tests.fixtures import API_KEY
from tests.standin import BugzillaStandIn


def test_bug_page_sends_search_and_pages_by_id(client: BugzillaClient, standin: BugzillaStandIn):
    first = client.bug_page(offset=0, limit=10)
    second = client.bug_page(offset=10, limit=10)

    assert len(first) == 10 and len(second) == 10
    ids = [b["id"] for b in first + second]
    assert ids == sorted(ids) and len(set(ids)) == 20
    assert set(first[0]) == set(BUG_FIELDS)
    query = standin.requests[0].query
    assert query["product"] == "CA Program"
    assert query["component"] == "CA Certificate Compliance"
    assert query["include_fields"].split(",") == list(BUG_FIELDS)
    assert (query["order"], query["limit"], query["offset"]) == ("bug_id", "10", "0")
    assert "last_change_time" not in query
    assert API_KEY_HEADER not in standin.requests[0].headers


def test_bug_page_changed_since_asks_bugzilla_to_filter(client: BugzillaClient,
                                                        standin: BugzillaStandIn):
    since = datetime(2022, 6, 1, 8, 30, tzinfo=UTC)

    bugs = client.bug_page(offset=0, limit=100, changed_since=since)

    assert standin.requests[0].query["last_change_time"] == "2022-06-01T08:30:00Z"
    assert bugs and all(b["last_change_time"] >= "2022-06-01T08:30:00Z" for b in bugs)
    assert len(bugs) < 48


def test_comments_returns_comment_list(client: BugzillaClient, standin: BugzillaStandIn):
    comments = client.comments(1_500_001)

    assert comments[0]["count"] == 0 and "Incident Report" in comments[0]["text"]
    assert standin.requests[0].path == "/rest/bug/1500001/comment"


@pytest.mark.parametrize("mode", ["timeout", "500", "truncated", "broken"])
def test_bug_page_retries_transient_failure_with_backoff(client: BugzillaClient,
                                                          standin: BugzillaStandIn,
                                                          sleeps: list[float], mode: str):
    standin.fail("bugs", mode, times=2)

    bugs = client.bug_page(offset=0, limit=10)

    assert len(bugs) == 10
    assert len(standin.requests) == 3
    assert sleeps == [1.0, 2.0]  # backoff 1 s, doubled


def test_bug_page_honours_retry_after(client: BugzillaClient, standin: BugzillaStandIn,
                                      sleeps: list[float]):
    standin.fail("bugs", "429", times=2, retry_after="7")

    assert len(client.bug_page(offset=0, limit=10)) == 10
    assert sleeps == [7.0, 7.0]


def test_bug_page_caps_retry_after(client: BugzillaClient, standin: BugzillaStandIn,
                                   sleeps: list[float]):
    standin.fail("bugs", "429", times=1, retry_after="86400")

    client.bug_page(offset=0, limit=10)

    assert sleeps == [60.0]


def test_bug_page_retry_after_as_http_date(client: BugzillaClient, standin: BugzillaStandIn,
                                          sleeps: list[float]):
    standin.fail("bugs", "429", times=1,
                 retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True))

    client.bug_page(offset=0, limit=10)

    assert len(sleeps) == 1 and 20.0 < sleeps[0] <= 30.0


def test_bug_page_unreadable_retry_after_falls_back_to_backoff(client: BugzillaClient,
                                                               standin: BugzillaStandIn,
                                                               sleeps: list[float]):
    standin.fail("bugs", "429", times=1, retry_after="soon")

    assert len(client.bug_page(offset=0, limit=10)) == 10
    assert sleeps == [1.0]


def test_backoff_is_capped_by_max_wait(standin: BugzillaStandIn, sleeps: list[float]):
    standin.fail("bugs", "500", times=3)

    with BugzillaClient(standin.url, timeout=0.3, max_attempts=4, backoff=1.0, max_wait=1.5,
                        sleep=sleeps.append) as bugzilla:
        assert len(bugzilla.bug_page(offset=0, limit=10)) == 10

    assert sleeps == [1.0, 1.5, 1.5]


def test_broken_answers_and_server_errors_share_attempts(client: BugzillaClient,
                                                         standin: BugzillaStandIn,
                                                         sleeps: list[float]):
    standin.fail("bugs@0", "broken", times=1)  # served first, then the 500s
    standin.fail("bugs", "500", times=None)

    with pytest.raises(BugzillaUnavailable) as caught:
        client.bug_page(offset=0, limit=10)

    assert caught.value.attempts == 3 and caught.value.status == 500
    assert "failed 3 times (last: HTTP 500)" in str(caught.value)
    assert len(standin.requests) == 3 and sleeps == [1.0, 2.0]


def test_backoff_goes_on_from_server_error_to_broken_answer(client: BugzillaClient,
                                                            standin: BugzillaStandIn,
                                                            sleeps: list[float]):
    standin.fail("bugs@0", "500", times=1)
    standin.fail("bugs", "truncated", times=1)

    assert len(client.bug_page(offset=0, limit=10)) == 10
    assert len(standin.requests) == 3 and sleeps == [1.0, 2.0]


def test_persistent_broken_answer_names_it(client: BugzillaClient, standin: BugzillaStandIn,
                                           sleeps: list[float]):
    standin.fail("bugs", "truncated", times=None)

    with pytest.raises(BugzillaUnavailable, match=r"failed 3 times \(last: the answer is not valid"):
        client.bug_page(offset=0, limit=10)
    assert len(standin.requests) == 3 and sleeps == [1.0, 2.0]


def test_session_retries_through_urllib3(client: BugzillaClient):
    for url in ("http://bugzilla.example/rest/bug", "https://bugzilla.example/rest/bug"):
        adapter = client._session.get_adapter(url)
        assert isinstance(adapter, HTTPAdapter)
        retry = adapter.max_retries
        assert isinstance(retry, Retry)
        assert retry.total == 2 and retry.respect_retry_after_header
        assert all(retry.is_retry("GET", status) for status in (429, 500, 502, 503, 504))
        assert not retry.is_retry("POST", 503)
        assert not retry.is_retry("GET", 404)
        assert not retry.is_retry("GET", 413, has_retry_after=True)  # a refusal, however polite


def test_comments_retry_transient_failure(client: BugzillaClient, standin: BugzillaStandIn,
                                          sleeps: list[float]):
    standin.fail("comment@1500002", "500", times=1)

    assert client.comments(1_500_002)[0]["bug_id"] == 1_500_002
    assert sleeps == [1.0]


def test_bug_page_persistent_failure_raises_bugzilla_unavailable(client: BugzillaClient,
                                                                  standin: BugzillaStandIn,
                                                                  sleeps: list[float]):
    standin.fail("bugs", "500", times=None)

    with pytest.raises(BugzillaUnavailable) as caught:
        client.bug_page(offset=20, limit=10)

    assert isinstance(caught.value, IncidentError)
    assert caught.value.attempts == 3 and caught.value.status == 500
    assert "GET /rest/bug (offset 20)" in str(caught.value)
    assert "failed 3 times (last: HTTP 500)" in str(caught.value)
    assert len(standin.requests) == 3 and len(sleeps) == 2


def test_bug_page_timeout_message_names_the_wait(client: BugzillaClient, standin: BugzillaStandIn):
    standin.fail("bugs", "timeout", times=None)

    with pytest.raises(BugzillaUnavailable, match=r"no answer within 0\.3 s"):
        client.bug_page(offset=0, limit=10)


def test_unreachable_bugzilla_raises_after_retries(sleeps: list[float]):
    with socket.socket() as probe:  # a loopback port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with BugzillaClient(f"http://127.0.0.1:{port}", timeout=0.3, max_attempts=2,
                        sleep=sleeps.append) as bugzilla:
        with pytest.raises(BugzillaUnavailable, match="connection failed"):
            bugzilla.bug_page(offset=0, limit=10)
    assert len(sleeps) == 1


def test_redirect_is_not_followed(client: BugzillaClient, standin: BugzillaStandIn):
    standin.fail("bugs", "redirect")

    with pytest.raises(BugzillaUnavailable, match="redirected .* to http://elsewhere.invalid;"):
        client.bug_page(offset=0, limit=10)
    assert len(standin.requests) == 1


def test_refusal_is_not_retried_and_quotes_bugzilla(standin: BugzillaStandIn,
                                                    sleeps: list[float]):
    standin.api_key = "the-right-key"
    with BugzillaClient(standin.url, api_key=SecretStr(API_KEY), timeout=0.3,
                        sleep=sleeps.append) as bugzilla:
        with pytest.raises(BugzillaUnavailable) as caught:
            bugzilla.bug_page(offset=0, limit=10)

    assert caught.value.status == 401
    assert "The API key you specified is invalid" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert len(standin.requests) == 1 and sleeps == []


def test_api_key_sent_as_header_and_never_logged(standin: BugzillaStandIn, sleeps: list[float],
                                                 caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    standin.api_key = API_KEY
    standin.fail("bugs", "500", times=1)
    standin.fail("comment", "timeout", times=None)

    with BugzillaClient(standin.url, api_key=SecretStr(API_KEY), timeout=0.3, max_attempts=2,
                        sleep=sleeps.append) as bugzilla:
        assert len(bugzilla.bug_page(offset=0, limit=10)) == 10
        with pytest.raises(BugzillaUnavailable) as caught:
            bugzilla.comments(1_500_001)
        shown = repr(bugzilla)

    assert all(r.headers.get(API_KEY_HEADER) == API_KEY for r in standin.requests)
    assert "GET /rest/bug" in caplog.text  # the requests were logged, the key was not
    assert API_KEY not in caplog.text
    assert API_KEY not in shown and "api_key=set" in shown
    assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)


def test_from_settings_within_a_budget_takes_the_lower_of_each():
    """A caller someone waits on (the webhook) spends no more than its budget; settings below
    it are kept."""
    from core.bugzilla import RequestBudget
    from core.config import Settings

    generous = Settings(bugzilla_timeout=30, bugzilla_max_attempts=5, bugzilla_backoff=4,
                        bugzilla_max_wait=60)
    budget = RequestBudget(timeout=10, max_attempts=2, max_wait=1)
    with BugzillaClient.from_settings(generous, budget=budget) as capped:
        assert (capped.timeout, capped.max_attempts, capped.backoff, capped.max_wait) == (10, 2, 1, 1)
    with BugzillaClient.from_settings(generous) as whole:
        assert (whole.timeout, whole.max_attempts, whole.backoff, whole.max_wait) == (30, 5, 4, 60)
    frugal = Settings(bugzilla_timeout=3, bugzilla_max_attempts=1, bugzilla_backoff=0.1,
                      bugzilla_max_wait=0.5)
    with BugzillaClient.from_settings(frugal, budget=budget) as kept:
        assert (kept.timeout, kept.max_attempts, kept.backoff, kept.max_wait) == (3, 1, 0.1, 0.5)
