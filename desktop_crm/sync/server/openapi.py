"""The OpenAPI 3.1 description served at GET /openapi.json.

Kept by hand beside the handlers (api.py, httpd.py) and docs/sync-protocol.md;
tests/sync/test_server_openapi.py runs schemathesis against it.
"""

from __future__ import annotations

from typing import Any

# canonical base64url without padding (the server refuses any other form)
_B64URL = {
    "type": "string",
    "pattern": "^(?:[A-Za-z0-9_-]{4})*"
    "(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$",
}
_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_TIME = {"type": "string", "format": "date-time"}
_LABEL = {
    "type": "string",
    "minLength": 1,
    "maxLength": 100,
    "pattern": "^[^\\x00-\\x1f\\x7f]+$",
}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_json({"$ref": "#/components/schemas/Error"})}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, **_json(schema)}


_COMMON = {
    "400": _error("malformed request"),
    "429": {
        **_error("rate limited"),
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
    "503": _error("storage unavailable, retry later"),
}
_AUTH = {
    "401": _error("missing, unknown, revoked or malformed token (always the same)")
}
_TOO_LARGE = {"413": _error("body larger than the limit (not read)")}
_QUOTA = {"507": _error("the practice's storage quota would be exceeded")}


def _op(
    op_id: str,
    responses: dict[str, Any],
    *,
    auth: bool,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "responses": {**responses, **_COMMON, **(_AUTH if auth else {})},
        "security": [{"bearer": []}] if auth else [],
    }
    if body is not None:
        op["requestBody"] = {"required": True, **body}
        op["responses"].update(_TOO_LARGE)
    if parameters:
        op["parameters"] = parameters
    return op


_RECORD_IN = _obj(
    ["seq", "ciphertext"],
    seq={"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
    ciphertext={**_B64URL, "minLength": 2},
)
_RECORD_OUT = _obj(
    ["cursor", "workstation_id", "seq", "ciphertext", "received_at"],
    cursor={"type": "integer", "minimum": 1},
    workstation_id=_ID,
    seq={"type": "integer", "minimum": 1},
    ciphertext=_B64URL,
    received_at=_TIME,
)
_WORKSTATION = _obj(
    ["id", "label", "created_at", "last_seen", "revoked"],
    id=_ID,
    label={"type": "string"},
    created_at=_TIME,
    last_seen=_TIME,
    revoked={"type": "boolean"},
)
_BLOB_ID = {"name": "id", "in": "path", "required": True, "schema": _HEX64}
_WS_ID = {"name": "id", "in": "path", "required": True, "schema": _ID}
_BLOB_SAVED = _obj(["id", "size"], id=_HEX64, size={"type": "integer", "minimum": 0})

_PATHS: dict[str, Any] = {
    "/v1/health": {
        "get": _op(
            "health",
            {
                "200": _answer(
                    "the server is up",
                    _obj(
                        ["status", "protocol"],
                        status={"const": "ok"},
                        protocol={"const": 1},
                    ),
                )
            },
            auth=False,
        )
    },
    "/openapi.json": {
        "get": _op(
            "openapi", {"200": _answer("this document", {"type": "object"})}, auth=False
        )
    },
    "/v1/practices": {
        "post": _op(
            "create_practice",
            {
                "201": _answer(
                    "a new practice and its first workstation",
                    _obj(
                        ["practice_id", "workstation_id", "token"],
                        practice_id=_ID,
                        workstation_id=_ID,
                        token=_B64URL,
                    ),
                ),
                "401": _error(
                    "the operator requires a registration code: missing or wrong"
                ),
            },
            auth=False,
            body=_json(
                _obj(
                    ["label"],
                    label=_LABEL,
                    registration_code={"type": "string", "maxLength": 200},
                )
            ),
        )
    },
    "/v1/pairings": {
        "post": _op(
            "add_pairing",
            {
                "201": _answer(
                    "the pairing is stored",
                    _obj(
                        ["pairing_id", "expires_at"], pairing_id=_ID, expires_at=_TIME
                    ),
                )
            },
            auth=True,
            body=_json(
                _obj(
                    ["token_hash", "expires_at"],
                    token_hash=_HEX64,
                    expires_at=_TIME,
                    wrapped_key={
                        "oneOf": [{**_B64URL, "minLength": 2}, {"type": "null"}]
                    },
                )
            ),
        )
    },
    "/v1/join": {
        "post": _op(
            "join",
            {
                "201": _answer(
                    "joined; the pairing is used up",
                    _obj(
                        ["workstation_id", "token", "wrapped_key"],
                        workstation_id=_ID,
                        token=_B64URL,
                        wrapped_key={"oneOf": [_B64URL, {"type": "null"}]},
                    ),
                ),
                "401": _error("unknown, used or expired pairing"),
            },
            auth=False,
            body=_json(
                _obj(
                    ["practice_id", "enrolment_token", "label"],
                    practice_id={"type": "string"},
                    enrolment_token={"type": "string"},
                    label=_LABEL,
                )
            ),
        )
    },
    "/v1/changes": {
        "post": _op(
            "push",
            {
                "200": _answer(
                    "stored; duplicates were held already",
                    _obj(
                        ["accepted", "duplicates"],
                        accepted={"type": "integer", "minimum": 0},
                        duplicates={"type": "integer", "minimum": 0},
                    ),
                ),
                **_QUOTA,
            },
            auth=True,
            body=_json(
                _obj(
                    ["records"],
                    records={"type": "array", "maxItems": 500, "items": _RECORD_IN},
                )
            ),
        ),
        "get": _op(
            "pull",
            {
                "200": _answer(
                    "records after the cursor, oldest first",
                    _obj(
                        ["records", "next", "more"],
                        records={"type": "array", "items": _RECORD_OUT},
                        next={"type": "integer", "minimum": 0},
                        more={"type": "boolean"},
                    ),
                )
            },
            auth=True,
            parameters=[
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                },
            ],
        ),
    },
    "/v1/blobs/{id}": {
        "put": _op(
            "put_blob",
            {
                "200": _answer("held already with the same bytes", _BLOB_SAVED),
                "201": _answer("stored", _BLOB_SAVED),
                "409": _error("held already with other bytes"),
                **_QUOTA,
            },
            auth=True,
            body={
                "content": {
                    "application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"}
                    }
                }
            },
            parameters=[_BLOB_ID],
        ),
        "get": _op(
            "get_blob",
            {
                "200": {
                    "description": "the blob's ciphertext",
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "404": _error("no such blob in this practice"),
            },
            auth=True,
            parameters=[_BLOB_ID],
        ),
    },
    "/v1/workstations": {
        "get": _op(
            "workstations",
            {
                "200": _answer(
                    "the practice's workstations",
                    _obj(
                        ["workstations"],
                        workstations={"type": "array", "items": _WORKSTATION},
                    ),
                )
            },
            auth=True,
        )
    },
    "/v1/workstations/{id}/revoke": {
        "post": _op(
            "revoke",
            {
                "200": _answer("revoked", _obj(["revoked"], revoked=_ID)),
                "404": _error("no such workstation in this practice"),
            },
            auth=True,
            parameters=[_WS_ID],
        )
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Desktop CRM sync server",
        "version": "1",
        "description": "Stores end-to-end encrypted change records and documents "
        "of a practice's workstations (docs/sync-protocol.md). Errors are "
        '`{"error": code}`.',
    },
    "paths": _PATHS,
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": _obj(
                ["error"],
                error={
                    "type": "string",
                    "enum": [
                        "bad_request",
                        "unauthorized",
                        "not_found",
                        "method_not_allowed",
                        "conflict",
                        "too_large",
                        "quota_exceeded",
                        "rate_limited",
                        "internal",
                        "unavailable",
                    ],
                },
            )
        },
    },
}
