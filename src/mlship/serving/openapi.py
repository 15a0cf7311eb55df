"""The OpenAPI 3.1 document: /predict's record schema comes from the contract schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JSON_TYPES = {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean"}


def record_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    if not schema:
        return {"type": "object", "description": "One input record: field name -> value."}
    properties: dict[str, Any] = {}
    required = []
    for name, spec in schema.items():
        spec = spec or {}
        kind = spec.get("type", "string")
        prop: dict[str, Any] = {"type": JSON_TYPES.get(kind, "string")}
        if spec.get("values") is not None:
            prop["enum"] = list(spec["values"])
        if spec.get("min") is not None:
            prop["minimum"] = spec["min"]
        if spec.get("max") is not None:
            prop["maximum"] = spec["max"]
        if spec.get("required", True):
            required.append(name)
        else:
            prop["type"] = [prop["type"], "null"]
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": required}


def _json(schema: dict[str, Any] | str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"content": {"application/json": {"schema": ref}}}


def _answers(ok: str, ok_schema: dict[str, Any] | str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok, **_json(ok_schema)}}
    text = {
        400: "Not valid JSON",
        404: "Unknown model",
        413: "Body too large",
        422: "Invalid input",
        503: "Model not ready",
    }
    for code in errors:
        out[str(code)] = {"description": text[code], **_json("Error")}
    return out


def _health(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": _answers("OK", {"type": "object"}, 503)}}


def build(name: str, version: str, schema: Mapping[str, Any] | None, max_body: int) -> dict[str, Any]:
    predict = {
        "post": {
            "summary": f"Predict with {name}",
            "description": f"Bodies over {max_body} bytes are refused with 413.",
            "requestBody": {"required": True, **_json("PredictRequest")},
            "responses": _answers("Predictions, one per record", "PredictResponse", 400, 413, 422, 503),
        }
    }
    v2_infer = {
        "post": {
            "summary": "Open Inference Protocol (V2) inference: one input tensor per field",
            "requestBody": {"required": True, **_json({"type": "object"})},
            "responses": _answers("Output tensor", {"type": "object"}, 400, 404, 413, 422, 503),
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{name} (mlship)", "version": version},
        "paths": {
            "/predict": predict,
            "/healthz": _health("Alive"),
            "/readyz": _health("Model loaded and warmed up"),
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}
            },
            "/v2": {
                "get": {"summary": "V2 server metadata", "responses": _answers("OK", {"type": "object"})}
            },
            "/v2/health/live": _health("V2 liveness"),
            "/v2/health/ready": _health("V2 readiness"),
            "/v2/models/{model_name}": _health("V2 model metadata"),
            "/v2/models/{model_name}/ready": _health("V2 model readiness"),
            "/v2/models/{model_name}/infer": v2_infer,
        },
        "components": {
            "schemas": {
                "Record": record_schema(schema),
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
                    "properties": {
                        "predictions": {"type": "array"},
                        "model_version": {"type": "string"},
                        "request_id": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "errors": {"type": "array", "items": {"type": "object"}},
                        "request_id": {"type": "string"},
                    },
                },
            }
        },
    }
