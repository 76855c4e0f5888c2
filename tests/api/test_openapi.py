"""schemathesis over the OpenAPI spec, bounded: every operation, as an admin of all and as
an engineer of one institution, with generated parameters and bodies — no server error."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.fix_api import auth

#: Generated cases per operation (each sent twice: admin, engineer).
EXAMPLES = 25


def test_no_server_errors(world: dict) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", world["client"].app)
    failures, operations, calls = [], 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same cases every run
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case) -> None:
            for who in ("admin", "engineer_a"):
                response = case.call(headers=auth(world, who))
                calls.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        (who, case.method, case.formatted_path, case.query, response.text[:300])
                    )

        check()
    assert operations >= 20 and len(calls) >= operations * 10  # it really ran
    assert failures == []
    assert {200, 404, 422} <= set(calls)  # reached handlers, not only the validation
