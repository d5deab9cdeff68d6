"""API shapes of the auth domain: login, accounts, API keys, the audit log.

Nothing here carries a password hash or a key hash; an API key's secret appears once, in
``ApiKeyCreated``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from kotacerdas.auth.access import PERMISSIONS
from kotacerdas.auth.passwords import MIN_LENGTH
from kotacerdas.web.schemas import NO_NUL, DbId, Email, Patch, ReadModel, Strict, UtcDateTime

Role = Literal["national_evaluator", "region_admin", "office_operator", "citizen"]
RegionRole = Literal["region_admin", "office_operator", "citizen"]
Language = Literal["id", "en"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
KeyName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120, pattern=NO_NUL)
]
AnyPassword = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=NO_NUL)]
NewPassword = Annotated[str, StringConstraints(min_length=MIN_LENGTH, max_length=1024, pattern=NO_NUL)]
LoginEmail = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]


def _permission_enum(schema: dict[str, Any]) -> None:
    # read when the OpenAPI document is built, after every domain has added its permissions
    schema["enum"] = sorted(PERMISSIONS)


PermissionCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=60, pattern=r"^[a-z_]+:[a-z_]+$"),
    Field(json_schema_extra=_permission_enum),
]


# ---------------------------------------------------------------- login and account


class LoginRequest(Strict):
    email: LoginEmail
    password: AnyPassword


class UserRead(ReadModel):
    id: int
    email: str
    full_name: str
    role: Role
    region_id: int | None
    office_id: int | None
    language: Language
    is_active: bool
    last_login_at: UtcDateTime | None
    password_changed_at: UtcDateTime
    created_at: UtcDateTime


class LoginResponse(BaseModel):
    user: UserRead
    csrf_token: str = Field(
        description="Send it as the X-CSRF-Token header on writes made with the session cookie"
    )


class LogoutResponse(BaseModel):
    logged_out: bool = Field(description="False when there was no login to end")


class MeRead(BaseModel):
    kind: Literal["user", "api_key"]
    label: str
    role: Role | None = Field(description="The user's role; null for an API key")
    region_code: str | None
    office_id: int | None
    permissions: list[str] = Field(
        description="An API key's permissions; empty for a user (the role decides)"
    )
    user: UserRead | None = Field(description="The account, when a user is logged in")


class ProfileUpdate(Patch):
    full_name: Name | None = None
    language: Language | None = None


class PasswordChange(Strict):
    current_password: AnyPassword
    new_password: NewPassword


# ---------------------------------------------------------------- region users


class UserCreate(Strict):
    email: Email
    full_name: Name
    password: NewPassword
    role: RegionRole
    office_id: DbId | None = Field(None, description="Required for an office operator")
    language: Language = "id"


class UserUpdate(Patch):
    nullable = frozenset({"office_id"})

    is_active: bool | None = None
    role: RegionRole | None = None
    office_id: DbId | None = Field(None, description="null removes the office (not for an office operator)")


# ---------------------------------------------------------------- API keys


class PermissionRead(BaseModel):
    code: str
    description: str


EntityTypeName = Annotated[
    str, StringConstraints(min_length=1, max_length=512, pattern=r"^[^\s<>\"'=;()\\]+$")
]


class ApiKeyCreate(Strict):
    name: KeyName
    permissions: list[PermissionCode] = Field(
        min_length=1, max_length=20, description="Codes from GET /api/v1/permissions"
    )
    office_id: DbId | None = Field(
        None, description="Bind the key to one office; an office operator's keys always are"
    )
    entity_types: list[EntityTypeName] | None = Field(
        None,
        max_length=100,
        description="The hub entity types the key may write (short names such as TrafficFlowObserved, "
        "or full IRIs); null or empty: every type",
    )


class ApiKeyRead(ReadModel):
    id: int
    name: str
    prefix: str = Field(description="The first characters of the secret, to recognise the key")
    office_id: int | None
    permissions: list[str]
    entity_types: list[str] | None = Field(
        description="Hub entity types (IRIs) the key may write; null: every type"
    )
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    revoked_at: UtcDateTime | None


class ApiKeyCreated(ApiKeyRead):
    secret: str = Field(description="The key itself. Shown only in this response; store it now")


# ---------------------------------------------------------------- audit


class AuditRead(ReadModel):
    id: int
    at: UtcDateTime
    actor_label: str
    actor_user_id: int | None
    actor_api_key_id: int | None
    action: str
    entity_type: str
    entity_id: str
    summary: str
    changes: dict[str, Any] = Field(description="Changed fields: {field: [old, new]}")


class AuditPage(BaseModel):
    items: list[AuditRead]
    total: int
    limit: int
    offset: int
