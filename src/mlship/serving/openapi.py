"""The OpenAPI 3.1 document: /predict's record schema comes from the contract schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlship.serving.v2 import ALL_TYPES
from mlship.serving.validate import BLANK_TEXT, INTEGER_TEXT, NUMBER_TEXT

JSON_TYPES = {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean"}


def _show(bound: Any) -> str:
    return "-" if bound is None else f"{bound:g}" if isinstance(bound, (int, float)) else str(bound)


def field_schema(spec: Mapping[str, Any], strict: bool) -> dict[str, Any]:
    """What the validator accepts for one field, no more and no less (schemathesis checks both ways).

    Ranges and category values are validated only in strict mode, so only then are they published
    as `minimum`/`maximum`/`enum`; otherwise they are told in the description. Numbers as text
    (and blank text for none) are read outside strict mode only."""
    kind = spec.get("type", "any")
    required = spec.get("required", True)
    low, high, values = spec.get("min"), spec.get("max"), spec.get("values")
    if kind in ("number", "integer"):
        exact: dict[str, Any] = {"type": kind}
        if strict and low is not None:
            exact["minimum"] = low
        if strict and high is not None:
            exact["maximum"] = high
        pattern = INTEGER_TEXT if kind == "integer" else NUMBER_TEXT
        # Strict mode takes JSON numbers only: a range cannot be stated of text.
        text = {"type": "string", "pattern": pattern, "description": "a number as text"}
        options = [exact] if strict else [exact, text]
    elif kind == "category":
        options = (
            [{"enum": list(values)}] if strict and values is not None else [{"type": ["string", "integer"]}]
        )
    elif kind in JSON_TYPES:
        options = [{"type": JSON_TYPES[kind]}]
    else:
        options = [{}]  # no type: any value
    if not required:
        options.append({"type": "null"})
        if kind in ("number", "integer") and not strict:
            options.append({"type": "string", "pattern": BLANK_TEXT, "description": "blank: none"})
    prop: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    notes = []
    if not strict and (low is not None or high is not None):
        notes.append(f"trained on [{_show(low)}, {_show(high)}] (not enforced: serving.strict_schema is off)")
    if not strict and values is not None:
        notes.append(f"trained on {list(values)} (not enforced)")
    if notes:
        prop = {**prop, "description": "; ".join(notes)}
    return prop


def record_schema(schema: Mapping[str, Any] | None, strict: bool = False) -> dict[str, Any]:
    if not schema:
        return {"type": "object", "minProperties": 1, "description": "One input record: field -> value."}
    properties = {name: field_schema(spec or {}, strict) for name, spec in schema.items()}
    required = [name for name, spec in schema.items() if (spec or {}).get("required", True)]
    return {"type": "object", "properties": properties, "required": required}


def _json(schema: dict[str, Any] | str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"content": {"application/json": {"schema": ref}}}


ERRORS = {
    400: "Not valid JSON, or a malformed V2 tensor",
    404: "Unknown model or version",
    408: "The body did not arrive within serving.body_timeout seconds",
    413: "Body too large",
    415: "The body is not declared as JSON (Content-Type: application/json)",
    422: "Invalid input",
    500: "The model failed on input that passed validation",
    503: "Model not ready",
}
SCORING_ERRORS = (400, 408, 413, 415, 422, 500, 503)


def _answers(ok: str, ok_schema: dict[str, Any] | str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok, **_json(ok_schema)}}
    for code in errors:
        out[str(code)] = {"description": ERRORS[code], **_json("Error")}
    return out


def _health(summary: str, *errors: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": _answers("OK", {"type": "object"}, *errors)}}


def _path_params(name: str, version: str | None) -> list[dict[str, Any]]:
    """This server has one model and one version: the only names that do not answer 404."""
    pairs = [("model_name", name)] + ([("model_version", version)] if version is not None else [])
    return [
        {"name": key, "in": "path", "required": True, "schema": {"type": "string", "enum": [value]}}
        for key, value in pairs
    ]


def _v2_model_paths(name: str, version: str, max_body: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for base, pinned in (
        ("/v2/models/{model_name}", None),
        ("/v2/models/{model_name}/versions/{model_version}", version),
    ):
        params = _path_params(name, pinned)
        out[base] = {"parameters": params, **_health("V2 model metadata", 404)}
        out[base + "/ready"] = {"parameters": params, **_health("V2 model readiness", 404, 503)}
        out[base + "/infer"] = {
            "parameters": params,
            "post": {
                "summary": "Open Inference Protocol (V2) inference: one input tensor per field",
                "description": (
                    "Each tensor is one field, shape [n] or [n, 1], one value per record; every tensor has "
                    f"the same n, and data holds n values of the datatype. Bodies over {max_body} bytes: 413."
                ),
                "requestBody": {"required": True, **_json("InferRequest")},
                "responses": _answers("Output tensor", "InferResponse", 404, *SCORING_ERRORS),
            },
        }
    return out


def _tensor(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "shape": {
                "type": "array",
                "minItems": 1,
                "maxItems": 2,
                "items": {"type": "integer", "minimum": 0},
            },
            "datatype": {"enum": sorted(ALL_TYPES)},
            "parameters": {"type": "object"},
            "data": data,
        },
    }


V2_SCHEMAS: dict[str, Any] = {
    "InferRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object"},
            "inputs": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/InputTensor"}},
        },
    },
    "InputTensor": _tensor({"type": "array"}),
    "InferResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": _tensor({"type": "array"})},
        },
    },
}


def build(
    name: str, version: str, schema: Mapping[str, Any] | None, max_body: int, strict: bool = False
) -> dict[str, Any]:
    predict = {
        "post": {
            "summary": f"Predict with {name}",
            "description": f"Bodies over {max_body} bytes are refused with 413.",
            "requestBody": {"required": True, **_json("PredictRequest")},
            "responses": _answers("Predictions, one per record", "PredictResponse", *SCORING_ERRORS),
        }
    }
    metrics = {
        "200": {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{name} (mlship)", "version": version},
        "paths": {
            "/predict": predict,
            "/healthz": _health("Alive"),
            "/readyz": _health("Model loaded and warmed up", 503),
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": metrics}},
            "/openapi.json": {
                "get": {"summary": "This document", "responses": _answers("OK", {"type": "object"})}
            },
            "/v2": {
                "get": {"summary": "V2 server metadata", "responses": _answers("OK", {"type": "object"})}
            },
            "/v2/health/live": _health("V2 liveness"),
            "/v2/health/ready": _health("V2 readiness", 503),
            **_v2_model_paths(name, version, max_body),
        },
        "components": {
            "schemas": {
                "Record": record_schema(schema, strict),
                "PredictRequest": {
                    "type": "object",
                    "required": ["records"],
                    "properties": {
                        "records": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Record"},
                        }
                    },
                },
                "PredictResponse": {
                    "type": "object",
                    "required": ["predictions", "model_version", "request_id"],
                    "properties": {
                        "predictions": {"type": "array"},
                        "model_version": {"type": "string"},
                        "request_id": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object"}},
                        "request_id": {"type": "string"},
                    },
                },
                **V2_SCHEMAS,
            }
        },
    }
