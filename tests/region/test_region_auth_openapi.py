"""The OpenAPI document of the auth and regions operations is precise, and fuzzing them finds no 5xx.

Schemathesis generates requests from the document (valid and invalid ones) for every operation tagged
``auth`` or ``regions`` and sends them as a logged-in region admin, with the CSRF header, so the
requests reach the services and the database instead of stopping at the login check.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

TAGS = {"auth", "regions"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _operations(app):
    document = app.openapi()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if TAGS & set(operation.get("tags", [])):
                yield path, method, operation


def test_every_operation_declares_its_success_and_error_shapes(app):
    seen = 0
    for path, method, operation in _operations(app):
        seen += 1
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, (method, path)
        content = responses[success[0]]["content"]
        assert any("schema" in media and media["schema"] for media in content.values()), (method, path)
        for code, response in responses.items():
            if code.startswith("4"):
                schema = next(iter(response["content"].values()))["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
        if "{region_code}" in path:
            assert {"401", "403", "404", "422"} <= set(responses), (method, path)
    assert seen >= 25


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzing_the_auth_and_region_operations_finds_no_server_error(app, client, world, mode):
    client.login("admin@jember.go.id", world["password"])
    wanted = {(path, method) for path, method, _op in _operations(app)}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if (result.ok().path, result.ok().method.lower()) in wanted
    ]
    assert len(operations) == len(wanted)
    # the logout ends the fuzzer's login: fuzz it last
    operations.sort(key=lambda op: op.path == "/api/v1/auth/logout")
    headers = {"Cookie": f"kc_session={client.cookies['kc_session']}", "X-CSRF-Token": client.csrf}

    for operation in operations:
        # in Jember, where the admin belongs, so that the requests reach the services
        fixed = {"region_code": "35.09"} if "{region_code}" in operation.path else None

        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
        @settings(
            max_examples=15,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            run()
        except Unsatisfiable:
            # an operation without parameters or body has no invalid request to make
            assert mode == GenerationMode.NEGATIVE, operation.path
