"""Admin routes for groups (feeding `wlcg.groups`) and storage policies (who may get which storage scopes)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lake.api.deps import CallerDep, ServicesDep
from lake.core.models import Model, Timestamp
from lake.logic.auth import groups, storage_policy
from lake.logic.auth.permissions import require_admin

router = APIRouter()


class GroupIn(BaseModel):
    name: str = Field(description="WLCG group path, e.g. /escape/cta")
    description: str | None = None


class MemberOut(BaseModel):
    account: str
    optional: bool = Field(description="asserted in tokens only when the group is requested")


class GroupOut(BaseModel):
    name: str
    description: str | None = None
    members: list[MemberOut] = []


class MemberIn(BaseModel):
    account: str
    optional: bool = False


class PolicyIn(BaseModel):
    subject: str = Field(description="account:<name> or group:</vo/sub>")
    scope: str = Field(description="a storage scope with its path, e.g. storage.create:/escape/cta")
    audience: str = Field("*", description="the audience the scope may be issued for, or *")


class PolicyOut(Model):  # (Model: its `created_at` leaves as UTC)
    id: int
    subject: str
    scope: str
    audience: str
    created_at: Timestamp


@router.post("/v1/groups", status_code=201)
def add_group(body: GroupIn, caller: CallerDep, svc: ServicesDep) -> GroupOut:
    """Create a group (admin)."""
    with svc.db.transaction() as conn:
        group = groups.add_group(conn, caller, body.name, body.description)
    return GroupOut(name=group.name, description=group.description)


@router.get("/v1/groups")
def list_groups(caller: CallerDep, svc: ServicesDep) -> list[GroupOut]:
    """Every group with its members (admin)."""
    require_admin(caller)
    with svc.db.transaction() as conn:
        return [GroupOut.model_validate(asdict(group)) for group in groups.list_groups(conn)]


@router.post("/v1/groups/{group:path}/members", status_code=201)
def add_member(group: str, body: MemberIn, caller: CallerDep, svc: ServicesDep) -> MemberOut:
    """Add an account to a group as a default or optional member (admin)."""
    with svc.db.transaction() as conn:
        member = groups.add_member(conn, caller, "/" + group.strip("/"), body.account, body.optional)
    return MemberOut(account=member.account, optional=member.optional)


@router.delete("/v1/groups/{group:path}/members/{account}", status_code=204)
def remove_member(group: str, account: str, caller: CallerDep, svc: ServicesDep) -> None:
    """Take an account out of a group (admin)."""
    with svc.db.transaction() as conn:
        groups.remove_member(conn, caller, "/" + group.strip("/"), account)


@router.post("/v1/storage-policies", status_code=201)
def add_policy(body: PolicyIn, caller: CallerDep, svc: ServicesDep) -> PolicyOut:
    """Let an account or group get a storage scope path for an audience (admin)."""
    with svc.db.transaction() as conn:
        policy = storage_policy.add_policy(conn, caller, body.subject, body.scope, body.audience)
    return PolicyOut.model_validate(asdict(policy))


@router.get("/v1/storage-policies")
def list_policies(caller: CallerDep, svc: ServicesDep, subject: str | None = None) -> list[PolicyOut]:
    """Storage policies, optionally of one subject (admin)."""
    require_admin(caller)
    with svc.db.transaction() as conn:
        found = storage_policy.list_policies(conn, [subject] if subject else None)
    return [PolicyOut.model_validate(asdict(policy)) for policy in found]


@router.delete("/v1/storage-policies/{policy_id}", status_code=204)
def remove_policy(policy_id: int, caller: CallerDep, svc: ServicesDep) -> None:
    """Revoke a storage policy: new tokens no longer get what it allowed (admin)."""
    with svc.db.transaction() as conn:
        storage_policy.remove_policy(conn, caller, policy_id)
