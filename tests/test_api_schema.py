"""Schemathesis fuzzes every endpoint from the OpenAPI document: no 500s, and every response
(status, content type, body) conforms to the document.

Driven through hypothesis directly: schemathesis' own pytest plugin does not run under pytest 9.
"""

import pytest
import schemathesis
from conftest import running_app
from helpers import fake_config
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from test_api import collect_history


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api_schema(request, fake_server, tmp_path_factory):
    """The document of an app with a collected history, once per database: PostgreSQL refuses
    input SQLite takes (a NUL byte in a string), so both are fuzzed."""
    tmp = tmp_path_factory.mktemp("schema")
    url = (
        f"sqlite:///{tmp / 'schema.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    fake_server.reset()
    with running_app(fake_config(fake_server, tmp / "instance", url)) as app:
        collect_history(app, fake_server, cycles=5)
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    fake_server.reset()


def test_the_document_lists_every_endpoint(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 29


@pytest.mark.parametrize("index", range(29))
def test_every_endpoint_conforms_to_the_document(api_schema, index):
    operation = [result.ok() for result in api_schema.get_all_operations()][index]

    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case):
        # Windows and ranges have rules across parameters (window or start/end, start before end,
        # parseable times) that OpenAPI cannot state; those 400s are right, so that one check is off.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    fuzz()
