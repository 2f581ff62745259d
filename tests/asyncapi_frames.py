"""Validate WebSocket frames against the message schemas of docs/asyncapi.yaml.

The document is the single source of truth for the protocol: tests that send or receive frames
call `validate_client_frame` / `validate_server_frame` on each one, so code and document cannot
drift apart. Messages are looked up by the frame's `type` among the `receive` operations (client
→ server) or the `send` operations (server → client); `chat` exists in both directions.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
import yaml
from jsonschema import Draft7Validator, ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parent.parent
ASYNCAPI_PATH = ROOT / "docs" / "asyncapi.yaml"
OFFICIAL_SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "asyncapi-3.0.0-schema.json"
# Payload $refs point into the document ("#/components/schemas/Track"), so the whole document is
# registered as one resource and each payload is validated through a reference into it.
DOC_URI = "urn:rooms-server:asyncapi"
CLIENT, SERVER = "receive", "send"


@cache
def load_document() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ASYNCAPI_PATH.read_text(encoding="utf-8"))
    return doc


@cache
def _registry() -> Registry[Any]:
    registry: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT7.create_resource(load_document()))
    return registry


@cache
def message_names(action: str) -> dict[str, str]:
    """Frame type → components.messages key, for the operations with this action."""
    doc = load_document()
    channel_messages = doc["channels"]["room"]["messages"]
    names: dict[str, str] = {}
    for operation in doc["operations"].values():
        if operation["action"] != action:
            continue
        for ref in operation["messages"]:
            channel_key = ref["$ref"].rsplit("/", 1)[1]
            name = channel_messages[channel_key]["$ref"].rsplit("/", 1)[1]
            frame_type = doc["components"]["messages"][name]["payload"]["properties"]["type"]["const"]
            names[frame_type] = name
    return names


@cache
def payload_validator(message_name: str) -> Draft7Validator:
    ref = f"{DOC_URI}#/components/messages/{message_name}/payload"
    return Draft7Validator({"$ref": ref}, registry=_registry())


def _validate(frame: object, action: str) -> dict[str, Any]:
    obj = orjson.loads(frame) if isinstance(frame, str | bytes) else frame
    if not isinstance(obj, dict):
        raise ValidationError(f"a frame must be a JSON object, got {type(obj).__name__}")
    frame_type = obj.get("type")
    name = message_names(action).get(frame_type) if isinstance(frame_type, str) else None
    if name is None:
        raise ValidationError(f"no {action} message has type {frame_type!r}")
    payload_validator(name).validate(obj)
    return obj


def validate_client_frame(frame: object) -> dict[str, Any]:
    """Validate a client → server frame (dict, or JSON text/bytes); returns the decoded object."""
    return _validate(frame, CLIENT)


def validate_server_frame(frame: object) -> dict[str, Any]:
    """Validate a server → client frame (dict, or JSON text/bytes); returns the decoded object."""
    return _validate(frame, SERVER)
