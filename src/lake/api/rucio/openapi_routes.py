"""What each Rucio-dialect route takes and answers, for its OpenAPI document (`lake.api.rucio.openapi`).

The routes parse their JSON bodies and most query arguments themselves (as upstream's do, whatever the content
type), so FastAPI sees none of it: `ROUTES` says it per operation, in the shape the route reads. A body's schema
names what the route uses (the client may send more: it is ignored). Dates are RFC 1123 strings (`... UTC`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lake.api.rucio.formats import STREAM

JsonSchema = dict[str, Any]
STR: JsonSchema = {"type": "string"}
INT: JsonSchema = {"type": "integer"}
BOOL: JsonSchema = {"type": "boolean"}
ANY: JsonSchema = {}
OPT_STR: JsonSchema = {"type": ["string", "null"]}
OPT_INT: JsonSchema = {"type": ["integer", "null"]}
# A limit may be infinite: upstream's serialiser writes the token `Infinity`, which is not JSON and which no JSON
# Schema type admits (validators read it as null), so the schema only describes it.
OPT_NUMBER: JsonSchema = {"description": "bytes: a number, null, or the token Infinity (no limit)"}
FLAG: JsonSchema = {"type": ["boolean", "string"]}  # Rucio booleans: JSON or "true"/"1"
METALINK = "application/metalink4+xml"


def obj(*required: str, **properties: JsonSchema) -> JsonSchema:
    """An object with these properties, some `required` (others may come: upstream's dictionaries have more)."""
    schema: JsonSchema = {"type": "object", "properties": properties}
    return schema | {"required": list(required)} if required else schema


def array(items: JsonSchema) -> JsonSchema:
    return {"type": "array", "items": items}


DID = obj("scope", "name", scope=STR, name=STR)
RULE = obj(
    "id",
    "account",
    "scope",
    "name",
    "state",
    "rse_expression",
    "copies",
    id=STR,
    account=STR,
    scope=STR,
    name=STR,
    did_type=STR,
    state=STR,
    error=OPT_STR,
    rse_expression=STR,
    copies=INT,
    expires_at=OPT_STR,
    locked=BOOL,
    locks_ok_cnt=INT,
    locks_replicating_cnt=INT,
    locks_stuck_cnt=INT,
    activity=STR,
    grouping=STR,
    priority=INT,
    child_rule_id=OPT_STR,
    created_at=STR,
    updated_at=STR,
)
LOCK = obj(
    "rule_id", "scope", "name", "rse", "state", rule_id=STR, scope=STR, name=STR, rse=STR, state=STR, bytes=OPT_INT
)
CONTENT = obj("scope", "name", "type", scope=STR, name=STR, type=STR, bytes=OPT_INT, adler32=OPT_STR, md5=OPT_STR)
FILE = obj("scope", "name", scope=STR, name=STR, bytes=OPT_INT, adler32=OPT_STR, md5=OPT_STR)
REPLICA = obj(
    "scope",
    "name",
    "pfns",
    "rses",
    "states",
    scope=STR,
    name=STR,
    bytes=OPT_INT,
    adler32=OPT_STR,
    md5=OPT_STR,
    pfns={"type": "object", "additionalProperties": obj("rse", rse=STR, priority=INT)},
    rses={"type": "object", "additionalProperties": array(STR)},
    states={"type": "object", "additionalProperties": STR},
    parents=array(STR),
)
RSE_ROW = obj("rse", id=STR, rse=STR, rse_type=STR, deterministic=BOOL, volatile=BOOL, availability=INT)
PROTOCOL = obj(
    "scheme", "hostname", "port", scheme=STR, hostname=STR, port=INT, prefix=STR, impl=STR, domains={"type": "object"}
)
USAGE = obj(
    "bytes",
    "files",
    "bytes_limit",
    "bytes_remaining",
    rse=STR,
    rse_id=OPT_STR,
    rse_expression=STR,
    bytes=INT,
    files=INT,
    bytes_limit=OPT_NUMBER,
    bytes_remaining=OPT_NUMBER,
)
FILE_IN = obj("scope", "name", scope=STR, name=STR, bytes=INT, adler32=STR, md5=STR, state=STR, meta={"type": "object"})
RULE_IN = obj(
    "dids",
    "copies",
    "rse_expression",
    dids=array(DID),
    copies=INT,
    rse_expression=STR,
    weight=OPT_STR,
    lifetime=OPT_INT,
    grouping={"enum": ["ALL", "DATASET", "NONE"]},
    account=OPT_STR,
    locked=FLAG,
    source_replica_expression=OPT_STR,
    activity=OPT_STR,
    purge_replicas=FLAG,
    priority=INT,
    comment=OPT_STR,
)
COLLECTION_IN = obj(
    "type",
    type={"enum": ["DATASET", "CONTAINER", "dataset", "container"]},
    lifetime=OPT_INT,
    meta={"type": "object"},
    dids=array(DID),
    rse=STR,
    rules=array(obj("copies", "rse_expression", copies=INT, rse_expression=STR)),
)
VALUE_IN = obj("value", value=ANY)


@dataclass(frozen=True)
class Op:
    """One operation: its success answers (status -> media type -> schema, `None` for no body), its JSON body,
    the query arguments and headers it reads itself, and the headers of its success answer."""

    answers: dict[int, dict[str, JsonSchema] | None]
    body: JsonSchema | None = None
    query: dict[str, JsonSchema] = field(default_factory=dict)
    headers: dict[str, tuple[JsonSchema, bool]] = field(default_factory=dict)  # name -> (schema, required)
    answer_headers: dict[str, JsonSchema] = field(default_factory=dict)


def answer(schema: JsonSchema = ANY, status: int = 200) -> dict[int, dict[str, JsonSchema] | None]:
    return {status: {"application/json": {"schema": schema}}}


def stream(item: JsonSchema = ANY) -> dict[int, dict[str, JsonSchema] | None]:
    """A JSON stream, one value per line: its `schema` is the stream read as an array."""
    return {200: {STREAM: {"schema": array(item)}}}


CREATED: dict[int, dict[str, JsonSchema] | None] = {201: {"text/plain": {"schema": {"const": "Created"}}}}
EMPTY: dict[int, dict[str, JsonSchema] | None] = {200: None}
RULE_FILTERS = {"scope": STR, "name": STR, "state": STR}

ROUTES: dict[str, Op] = {
    "GET /auth/userpass": Op(
        EMPTY,
        headers={"X-Rucio-Username": (STR, True), "X-Rucio-Password": (STR, True), "X-Rucio-Account": (STR, False)},
        answer_headers={"X-Rucio-Auth-Token": STR, "X-Rucio-Auth-Token-Expires": STR, "X-Rucio-Auth-Account": STR},
    ),
    "GET /auth/validate": Op({200: {"text/plain": {"schema": STR}}}),
    "GET /ping": Op(answer(obj("version", version=STR, lake_version=STR))),
    "GET /accounts/whoami": Op({303: None}, answer_headers={"Location": STR}),
    "GET /accounts/{account}": Op(answer(obj("account", "account_type", account=STR, account_type=STR))),
    "GET /accounts/{account}/scopes": Op(answer(array(STR))),
    "GET /accounts/{account}/rules": Op(stream(RULE), query=RULE_FILTERS),
    "GET /scopes": Op(answer(array(STR))),
    "GET /scopes/owner": Op(answer(array(obj("scope", "account", scope=STR, account=STR)))),
    "GET /accounts": Op(
        stream(obj("account", "type", account=STR, type=STR, email=OPT_STR)),
        query={"account_type": STR, "identity": STR},
    ),
    "POST /accounts/{account}": Op(CREATED, obj(type=STR, email=OPT_STR)),
    "GET /accounts/{account}/identities": Op(stream(obj("type", "identity", type=STR, identity=STR, email=OPT_STR))),
    "POST /accounts/{account}/identities": Op(
        CREATED, obj("identity", "authtype", identity=STR, authtype=STR, email=OPT_STR, default=FLAG, password=STR)
    ),
    "GET /accounts/{account}/attr": Op(answer(array(obj("key", "value", key=STR, value=ANY)))),
    "POST /accounts/{account}/attr/{key}": Op(CREATED, VALUE_IN),
    "DELETE /accounts/{account}/attr/{key}": Op(EMPTY),
    "POST /accounts/{account}/scopes/{scope}": Op(CREATED),
    "POST /accounts/{account}/limits/local/{rse}": Op(CREATED, obj("bytes", bytes=INT)),
    "POST /accounts/{account}/limits/global/{expression}": Op(CREATED, obj("bytes", bytes=INT)),
    "DELETE /accounts/{account}/limits/local/{rse}": Op(EMPTY),
    "DELETE /accounts/{account}/limits/global/{rse}": Op(EMPTY),
    "GET /accounts/{account}/limits/local": Op(answer({"type": "object", "additionalProperties": INT})),
    "GET /accounts/{account}/limits/local/{rse}": Op(answer({"type": "object", "additionalProperties": OPT_INT})),
    "GET /accounts/{account}/limits/global": Op(answer({"type": "object"})),
    "GET /accounts/{account}/limits/global/{expression}": Op(answer({"type": "object"})),
    "GET /accounts/{account}/usage/local": Op(stream(USAGE)),
    "GET /accounts/{account}/usage/local/{rse}": Op(stream(USAGE)),
    "GET /accounts/{account}/usage/global": Op(stream(USAGE)),
    "GET /accounts/{account}/usage/global/{expression}": Op(stream(USAGE)),
    "GET /rses": Op(stream(RSE_ROW)),
    "GET /rses/{rse}": Op(answer(RSE_ROW | {"properties": RSE_ROW["properties"] | {"protocols": array(PROTOCOL)}})),
    "POST /rses/{rse}": Op(CREATED, obj(deterministic=FLAG, volatile=FLAG, rse_type=STR, city=STR, country_name=STR)),
    "PUT /rses/{rse}": Op(
        CREATED,
        obj(
            availability=INT,
            availability_read=FLAG,
            availability_write=FLAG,
            availability_delete=FLAG,
            deterministic=FLAG,
            volatile=FLAG,
        ),
    ),
    "GET /rses/{rse}/attr": Op(answer({"type": "object"})),
    "GET /rses/{rse}/protocols": Op(
        answer(array(PROTOCOL)), query={"operation": STR, "protocol_domain": STR, "default": STR}
    ),
    "GET /rses/{rse}/lfns2pfns": Op(
        answer({"type": "object", "additionalProperties": STR}),
        query={"lfn": STR, "operation": STR, "domain": STR, "scheme": STR},
    ),
    "GET /rses/{rse}/usage": Op(stream(obj("rse", "used", "files", rse=STR, used=INT, files=INT))),
    "GET /rses/{rse}/limits": Op(answer({"type": "object"})),
    "POST /rses/{rse}/attr/{key}": Op(CREATED, VALUE_IN),
    "DELETE /rses/{rse}/attr/{key}": Op(EMPTY),
    "POST /rses/{rse}/protocols/{scheme}": Op(
        CREATED,
        obj(
            "hostname",
            hostname=STR,
            port=INT,
            prefix=STR,
            impl=STR,
            domains={"type": "object"},
            extended_attributes={"type": ["object", "null"]},
        ),
    ),
    "DELETE /rses/{rse}/protocols/{scheme}": Op(EMPTY),
    "GET /rses/{source}/distances/{destination}": Op(answer(array(obj("distance", distance=INT)))),
    "POST /rses/{source}/distances/{destination}": Op(CREATED, obj(distance=INT, ranking=INT, bidirectional=FLAG)),
    "PUT /rses/{source}/distances/{destination}": Op(EMPTY, obj(distance=INT, ranking=INT, bidirectional=FLAG)),
    "GET /dids/{scope}/{name}/meta": Op(answer({"type": "object"})),
    "POST /dids/{scope}/{name}/meta/{key}": Op(CREATED, VALUE_IN),
    "POST /dids/{scope}/{name}/meta": Op(CREATED, obj("meta", meta={"type": "object"})),
    "POST /replicas/list": Op(
        {200: {STREAM: {"schema": array(REPLICA)}, METALINK: {"schema": STR}}},
        obj("dids", dids=array(DID), schemes=array(STR), rse_expression=OPT_STR, all_states=FLAG, resolve_parents=FLAG),
        headers={"Accept": (STR, False)},
    ),
    "POST /replicas": Op(CREATED, obj("rse", "files", rse=STR, files=array(FILE_IN))),
    "PUT /replicas": Op(
        EMPTY, obj("rse", "files", rse=STR, files=array(obj("scope", "name", scope=STR, name=STR, state=STR)))
    ),
    "GET /replicas/{scope}/{name}/datasets": Op(stream(obj("scope", "name", "rse", scope=STR, name=STR, rse=STR))),
    "GET /replicas/{scope}/{name}": Op(stream(REPLICA)),
    "POST /rules": Op(answer(array(STR), status=201), RULE_IN),
    "GET /rules": Op(stream(RULE), query={"account": STR} | RULE_FILTERS),
    "GET /rules/{rule_id}": Op(answer(RULE)),
    "PUT /rules/{rule_id}": Op(
        EMPTY, obj(options=obj(lifetime=OPT_INT, locked=BOOL, comment=OPT_STR, activity=STR, priority=INT, state=STR))
    ),
    "DELETE /rules/{rule_id}": Op(EMPTY),
    "POST /rules/{rule_id}/move": Op(
        answer(array(STR), status=201), obj("rse_expression", rse_expression=STR, override={"type": "object"})
    ),
    "POST /rules/{rule_id}/reduce": Op(answer(array(STR)), obj("copies", copies=INT, exclude_expression=OPT_STR)),
    "GET /rules/{rule_id}/locks": Op(stream(LOCK)),
    "POST /traces": Op(CREATED, {"type": "object"}),
    "GET /dids/{scope}/dids/search": Op(
        stream({"anyOf": [STR, obj("scope", "name", scope=STR, name=STR)]}),
        query={"type": STR, "long": STR, "limit": INT, "filters": STR},
    ),
    "GET /dids/{scope}/{name}/dids": Op(stream(CONTENT)),
    "POST /dids/{scope}/{name}/dids": Op(CREATED, obj("dids", dids=array(DID), rse=STR)),
    "DELETE /dids/{scope}/{name}/dids": Op(EMPTY, obj("dids", dids=array(DID))),
    "POST /dids/attachments": Op(
        CREATED,
        obj(
            "attachments",
            ignore_duplicate=FLAG,
            attachments=array(obj("scope", "name", "dids", scope=STR, name=STR, dids=array(DID), rse=STR)),
        ),
    ),
    "GET /dids/{scope}/{name}/files": Op(stream(FILE)),
    "GET /dids/{scope}/{name}/parents": Op(stream(CONTENT)),
    "PUT /dids/{scope}/{name}/status": Op(EMPTY, obj("open", open=FLAG)),
    "GET /dids/{scope}/{name}/rules": Op(stream(RULE)),
    "GET /dids/{scope}/{name}/associated_rules": Op(stream(RULE)),
    "GET /dids/{scope}/{name}": Op(answer(obj("scope", "name", "type", scope=STR, name=STR, type=STR))),
    "POST /dids/{scope}/{name}": Op(CREATED, COLLECTION_IN),
    "POST /dids": Op(
        CREATED,
        array(
            COLLECTION_IN
            | {"required": ["scope", "name", "type"], "properties": COLLECTION_IN["properties"] | DID["properties"]}
        ),
    ),
}
