"""schemathesis over every operation of the live OpenAPI schema, in-process, with its default checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.config import ServiceSettings
from tests.fixtures import end_background_jobs

#: Generated cases per operation (a few dozen operations: the file stays near a minute).
EXAMPLES = 8
#: Operations that run a whole job (retrain, sync) are tried fewer times: each call is slow.
SLOW_EXAMPLES = 2
SLOW = {("POST", "/models/retrain"), ("POST", "/incidents/sync")}
WEBHOOK_SECRET = "s" * 32
#: No 5xx, answers in the documented schema, status codes and content types, and a route that
#: documents its security refuses a request without it. (Not positive_data_acceptance: a request
#: the schema allows may still be refused with 422 for what a schema cannot say, such as a bug
#: id the store does not hold or a date that does not exist.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, ignored_auth]


@pytest.fixture
def api_schema(service_settings: ServiceSettings, models_dir: Path, store: str) -> Iterator[Any]:
    """The live schema of the app on the fixture store, with the small model active.

    Reads need a token too, so every operation's documented security holds (schemathesis checks
    that a request without it is refused).
    """
    app = create_app(service_settings.model_copy(update={"webhook_secret": SecretStr(WEBHOOK_SECRET),
                                                          "require_token_for_reads": True}))
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        # The retrains and syncs the cases started run on in threads of their own (service/jobs.py):
        # they end before the store does.
        end_background_jobs(collect=False)
        asgi.shutdown_lifespans()  # schemathesis keeps the app started for the process otherwise


def _failures(operation: Any, headers: dict[str, str], examples: int) -> list[str]:
    found: list[str] = []

    @hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.generate])
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except (Exception, FailureGroup) as error:  # collected: one run reports every operation
            found.append(f"{operation.method.upper()} {operation.path}: {error}")
            raise

    try:
        run()
    except (Exception, FailureGroup):
        pass
    return found[:1]


def test_schema_every_operation_conforms(api_schema: Any, maintainer: dict[str, str]) -> None:
    """No 5xx, answers in the documented schema, only documented status codes, on every route."""
    headers = {**maintainer, "X-Api-Key": WEBHOOK_SECRET}
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        slow = (operation.method.upper(), operation.path) in SLOW
        failures += _failures(operation, headers, SLOW_EXAMPLES if slow else EXAMPLES)
    assert operations >= 20
    assert not failures, "\n\n".join(failures)
