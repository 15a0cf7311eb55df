"""The Open Inference Protocol (KServe / Triton V2) REST mapping onto records.

Each input tensor is one field ("pandas codec" layout): shape [n] or [n, 1], one value per
record. The output is one tensor named "prediction" with shape [n] (or [n, m] for list outputs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlship.serving.validate import RequestError

SCHEMA_DATATYPES = {
    "number": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
}
INT_TYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
FLOAT_TYPES = {"FP16", "FP32", "FP64", "BF16"}
ALL_TYPES = INT_TYPES | FLOAT_TYPES | {"BOOL", "BYTES"}


def model_metadata(name: str, version: str, schema: Mapping[str, Any] | None) -> dict[str, Any]:
    inputs = [
        {
            "name": field,
            "datatype": SCHEMA_DATATYPES.get((spec or {}).get("type", ""), "BYTES"),
            "shape": [-1],
        }
        for field, spec in (schema or {}).items()
    ]
    return {
        "name": name,
        "versions": [version],
        "platform": "mlship",
        "inputs": inputs,
        "outputs": [{"name": "prediction", "datatype": "FP64", "shape": [-1]}],
    }


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if any(isinstance(item, list) for item in data):
        return [value for item in data for value in _flatten(item)]
    return data


def _check_value(name: str, datatype: str, index: int, value: Any) -> None:
    ok = True
    if datatype in FLOAT_TYPES:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif datatype in INT_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif datatype == "BOOL":
        ok = isinstance(value, bool)
    elif datatype == "BYTES":
        ok = isinstance(value, str)
    if not ok:
        raise RequestError(
            422, f"inputs[{name}] element {index} is {json.dumps(value)[:40]}, not of datatype {datatype}"
        )


def _rows(tensor: Any, position: int) -> tuple[str, list[Any]]:
    if not isinstance(tensor, dict):
        raise RequestError(400, f"inputs[{position}] must be an object with name, shape, datatype, data")
    name, shape, datatype, data = (tensor.get(k) for k in ("name", "shape", "datatype", "data"))
    if not isinstance(name, str) or not name:
        raise RequestError(400, f"inputs[{position}] has no name")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) or not shape:
        raise RequestError(400, f"inputs[{name}] shape must be a list of sizes like [n] or [n, 1]")
    if not isinstance(datatype, str) or datatype not in ALL_TYPES:
        raise RequestError(400, f"inputs[{name}] datatype {json.dumps(datatype)[:40]} is not a V2 datatype")
    if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise RequestError(422, f"inputs[{name}] must have shape [n] or [n, 1] (one value per record)")
    values = _flatten(data)
    if len(values) != shape[0]:
        raise RequestError(400, f"inputs[{name}] has {len(values)} values but shape says {shape[0]}")
    for index, value in enumerate(values):
        _check_value(name, datatype, index, value)
    return name, values


def records_from_request(payload: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The records an infer request carries, and its id."""
    if not isinstance(payload, dict):
        raise RequestError(400, 'the body must be a JSON object with an "inputs" list')
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, '"inputs" must be a non-empty list of tensors')
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError(400, '"id" must be a string')
    columns = dict(_rows(tensor, i) for i, tensor in enumerate(inputs))
    sizes = {len(values) for values in columns.values()}
    if len(sizes) != 1:
        raise RequestError(422, "all input tensors must have the same first dimension (one row per record)")
    count = sizes.pop()
    if count == 0:
        raise RequestError(422, "the input tensors are empty; send at least one record")
    names = list(columns)
    return [{name: columns[name][i] for name in names} for i in range(count)], request_id


def _datatype(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


def response(name: str, version: str, request_id: str, predictions: list[Any]) -> dict[str, Any]:
    n = len(predictions)
    widths = {len(p) for p in predictions if isinstance(p, list)}
    if len(widths) == 1 and all(isinstance(p, list) for p in predictions):
        flat = [v for p in predictions for v in p]
        shape, data = [n, widths.pop()], flat
    else:
        shape, data = [n], predictions
    datatype = _datatype(data)
    if datatype == "BYTES":
        data = [v if isinstance(v, str) else json.dumps(v) for v in data]
    return {
        "model_name": name,
        "model_version": version,
        "id": request_id,
        "outputs": [{"name": "prediction", "shape": shape, "datatype": datatype, "data": data}],
    }
