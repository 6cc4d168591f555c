"""The dialect's JSON bodies, parsed into their shape before a route does anything with them.

Upstream reads its bodies with `param_get` and checks them with JSON schemas; the dialect declares each body
as a model here (the keys it reads, typed; others are allowed, since Rucio clients send more than Lake uses) and
`parse` turns a body of the wrong shape into a Rucio error 400, naming the field:

- the body itself of the wrong JSON type: `TypeError` ("body must be a json dictionary"), as upstream's
  `json_parameters` / `json_list`;
- a required key of the body missing: `KeyError` ("'type' not defined"), as upstream's `param_get`;
- anything else (a value of the wrong type or out of range, a key missing in a DID or file of the body):
  `InvalidObject`, the class upstream's schema validation raises for DIDs, files and rules of the wrong shape
  (and the class Lake's own `InvalidInput` becomes), which the Rucio client raises as its own, with the message.

Values are typed as the Lake models they feed (`DIDIn`, `FileIn`, `RuleIn`) type them; those models' own bounds
(sizes, lifetimes, copies) are checked by `parse` too, when the route builds them.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar, overload

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from lake.api.rucio.errors import RucioError
from lake.api.rucio.formats import flag
from lake.core.models import BIGINT_MAX, DIDRef, FileIn

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# Rucio booleans: JSON booleans, "true"/"false" in any case, 1/0 (anything else is false, as `flag` reads it).
Flag = Annotated[bool, BeforeValidator(flag)]
# Messages of pydantic's container errors, in JSON's words (pydantic's name the model class).
CONTAINER_ERRORS = {"model_type": "json dictionary", "dict_type": "json dictionary", "list_type": "json list"}
SHOWN_ERRORS = 3


class Body(BaseModel):
    """A JSON object of a body: the keys the dialect reads; other keys are allowed and not used."""

    model_config = ConfigDict(extra="allow")


class DID(Body):
    scope: str
    name: str

    @property
    def ref(self) -> DIDRef:
        return DIDRef(scope=self.scope, name=self.name)


class StateItem(DID):
    """A replica of `PUT /replicas`: its DID and the state it goes to (a letter or a name, default A)."""

    state: str | None = None


class FileItem(StateItem):
    """A file to register (`POST /replicas`, or attached with an `rse`): size and adler32 are then needed."""

    bytes: int | None = None
    adler32: str | None = None
    md5: str | None = None
    meta: dict[str, Any] | None = None

    def file_fields(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `FileIn` keys this item has (a missing size or checksum is then a `KeyError` of `FileIn`)."""
        fields = self.model_dump(include=set(FileIn.model_fields), exclude_none=True)
        return fields if meta is None else fields | {"meta": meta}


# --- DIDs ----------------------------------------------------------------------------------------------


class Attach(Body):
    """`POST /dids/{did}/dids`: the DIDs to attach; with `rse`, files first registered there."""

    dids: list[FileItem]
    rse: str | None = None


class Detach(Body):
    dids: list[DID]


class Attachment(DID):
    dids: list[FileItem]
    rse: str | None = None


class Attachments(Body):
    """`POST /dids/attachments`."""

    attachments: list[Attachment]
    ignore_duplicate: Flag = False


class CollectionRule(Body):
    """A rule made with a new collection."""

    copies: int
    rse_expression: str
    grouping: str | None = None
    lifetime: int | None = None
    weight: str | None = None
    account: str | None = None
    activity: str | None = None


class Collection(Body):
    """`POST /dids/{did}`: a dataset or container, with its metadata, lifetime, content and rules."""

    type: str
    lifetime: int | None = None
    meta: dict[str, Any] | None = None
    dids: list[FileItem] | None = None
    rse: str | None = None
    rules: list[CollectionRule] | None = None


class NamedCollection(Collection):
    """One item of `POST /dids`."""

    scope: str
    name: str


COLLECTIONS = TypeAdapter(list[NamedCollection])


class Status(Body):
    open: Flag


class Search(Body):
    """`GET /dids/{scope}/dids/search`'s `limit` (a query argument: an integer, as upstream's `type=int`)."""

    limit: Annotated[int, Field(ge=0, le=BIGINT_MAX)] | None = None


class MetaValue(Body):
    value: Any


class MetaValues(Body):
    meta: dict[str, Any]


# --- replicas ------------------------------------------------------------------------------------------


class ReplicaQuery(Body):
    """`POST /replicas/list` (and, all defaults, `GET /replicas/{did}`)."""

    dids: list[DID] = []
    schemes: list[str] | None = None
    rse_expression: str | None = None
    all_states: Flag = False
    resolve_parents: Flag = False


class Registration(Body):
    """`POST /replicas`: files and their replicas on one RSE."""

    rse: str
    files: list[FileItem]


class StateUpdate(Body):
    """`PUT /replicas`: replicas of one RSE going to a new state."""

    rse: str
    files: list[StateItem]


FILES = TypeAdapter(list[FileIn])


# --- rules ---------------------------------------------------------------------------------------------


class RuleRequest(Body):
    """`POST /rules`: one rule per DID, the other keys shared."""

    dids: list[DID]
    copies: int
    rse_expression: str
    weight: str | None = None
    lifetime: int | None = None
    grouping: str | None = None
    account: str | None = None
    locked: Flag = False
    source_replica_expression: str | None = None
    activity: str | None = None
    purge_replicas: Flag = False
    priority: int | None = None
    comment: str | None = None


class RuleChange(Body):
    """`PUT /rules/{id}`: which options are given matters (a null `lifetime` removes it), so they stay a dict."""

    options: dict[str, Any] = {}


class RuleMove(Body):
    rse_expression: str
    override: dict[str, Any] | None = None


class RuleReduce(Body):
    copies: int
    exclude_expression: str | None = None


# --- parsing -------------------------------------------------------------------------------------------


@overload
def parse(shape: type[M], body: Any, where: str = "") -> M: ...


@overload
def parse(shape: TypeAdapter[T], body: Any, where: str = "") -> T: ...


def parse(shape: type[BaseModel] | TypeAdapter[Any], body: Any, where: str = "") -> Any:
    """`body` as `shape`, or a Rucio error 400 (see the module) naming the field, from `where` in the body."""
    try:
        if isinstance(shape, TypeAdapter):
            return shape.validate_python(body)
        return shape.model_validate(body)
    except ValidationError as exc:
        raise body_error(exc, where) from exc


def body_error(exc: ValidationError, where: str = "") -> RucioError:
    errors = exc.errors(include_url=False)
    for error in errors:
        if not error["loc"] and not where and error["type"] in CONTAINER_ERRORS:
            return RucioError("TypeError", f"body must be a {CONTAINER_ERRORS[error['type']]}", 400)
    for error in errors:
        if error["type"] == "missing" and len(error["loc"]) == 1 and not where:
            return RucioError("KeyError", f"'{error['loc'][0]}' not defined", 400)
    problems = [_problem(error["type"], error["loc"], str(error["msg"]), where) for error in errors[:SHOWN_ERRORS]]
    if len(errors) > SHOWN_ERRORS:
        problems.append(f"and {len(errors) - SHOWN_ERRORS} more")
    return RucioError("InvalidObject", "; ".join(problems), 400)


def _problem(kind: str, loc: tuple[int | str, ...], message: str, where: str) -> str:
    """`invalid dids[0].name: Input should be a valid string`, `invalid dids[1]: 'name' not defined`."""
    if kind == "missing":
        return f"invalid {_path(loc[:-1], where)}: '{loc[-1]}' not defined"
    container = CONTAINER_ERRORS.get(kind)
    return f"invalid {_path(loc, where)}: {f'Input should be a {container}' if container else message}"


def _path(loc: tuple[int | str, ...], where: str = "") -> str:
    """`dids[0].name`; a path into a top-level list starts with `body`."""
    text = where
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"body{text}" if not text or text.startswith("[") else text
