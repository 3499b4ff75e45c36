"""Schemathesis against the server's own /openapi.json: no 5xx, answers as described.

Bounded: a few examples per operation and generation mode (well under 60 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from support.sync_server import Client, RunningServer, TLSFiles, new_practice

from desktop_crm.sync.server import ServerConfig
from desktop_crm.sync.server.openapi import DOCUMENT
from desktop_crm.sync.server.ratelimit import Rate

MAX_EXAMPLES = 10
BUDGET_SECONDS = 60
GENEROUS = Rate(per_second=10_000, burst=10_000)


def test_served_document_is_the_module_document(
    server: RunningServer, connect: Callable[[str | None], Client]
) -> None:
    assert connect(None).request("GET", "/openapi.json").json() == DOCUMENT


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(
    start_server: Callable[..., RunningServer],
    connector: Callable[[RunningServer], Callable[[str | None], Client]],
    tls: TLSFiles,
) -> None:
    running = start_server(ServerConfig(token_rate=GENEROUS, address_rate=GENEROUS))
    connect = connector(running)
    practice = new_practice(connect)
    served = connect(None).request("GET", "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(served)
    auth = {"Authorization": f"Bearer {practice.token}"}
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if time.monotonic() - started > BUDGET_SECONDS:
                pytest.fail("schemathesis run exceeded its time budget")
            _run(operation, mode, running.url, tls, auth)
    # the practice's own token still works: nothing crashed or locked it out
    assert practice.client.request("GET", "/v1/changes").status == 200


def _run(operation, mode, url, tls, auth) -> None:  # noqa: ANN001
    # A schema-valid expiry is rarely within the next ten minutes: 400 is right.
    excluded = [checks.positive_data_acceptance] if "pairings" in operation.path else []

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        headers = dict(auth) if operation.security else {}
        if "revoke" in operation.path:
            headers = {}  # never revoke the practice's own workstation
        case.call_and_validate(
            base_url=url,
            headers=headers,
            verify=str(tls.ca_file),
            timeout=10,
            excluded_checks=excluded,
        )

    try:
        check()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to break (no inputs)
