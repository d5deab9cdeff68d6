"""JSON API of logins, accounts, API keys and the audit log.

/api/v1/auth/... is exempt from the generic CSRF check (a login has no session yet), so the endpoints
here that change something for a logged-in browser check the X-CSRF-Token header themselves.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from kotacerdas.auth import access, service as auth
from kotacerdas.auth.access import PERMISSIONS, Principal
from kotacerdas.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    AuditPage,
    AuditRead,
    LoginRequest,
    LoginResponse,
    LogoutResponse,
    MeRead,
    PasswordChange,
    PermissionRead,
    ProfileUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from kotacerdas.errors import PermissionDenied
from kotacerdas.i18n import _, gettext
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web.deps import (
    CSRF_HEADER,
    SESSION_COOKIE,
    CurrentPrincipal,
    DbSession,
    check_csrf_value,
    csrf_token,
    language,
)
from kotacerdas.web.schemas import MAX_ID, READ_ERRORS, WRITE_ERRORS, error_responses

router = APIRouter(tags=["auth"])

RegionCode = Annotated[
    str,
    Path(pattern=regions.REGION_CODE.pattern, description="Kemendagri code, e.g. 35.09", examples=["35.09"]),
]
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


# ---------------------------------------------------------------- shared with the pages


def login_throttle(request: Request) -> auth.LoginThrottle:
    """The application's throttle of failed logins (one per process, see ``LoginThrottle``)."""
    throttle: auth.LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = auth.LoginThrottle()
        request.app.state.login_throttle = throttle
    return throttle


def start_browser_session(request: Request, response: Response, session: Session, token: str) -> None:
    """Hand the new session cookie to the browser, ending the login it replaces (one browser, one
    login); CSRF tokens made afterwards are bound to the new cookie."""
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        auth.end_session(session, previous)
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    request.state.session_token = token


def end_browser_session(request: Request, response: Response, session: Session) -> bool:
    """End the login the cookie belongs to (if any) and drop the cookie. True if a login ended."""
    token: str | None = getattr(request.state, "session_token", None)
    if token:
        auth.end_session(session, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return token is not None


def _require_csrf(request: Request, principal: Principal) -> None:
    if principal.kind == "user":
        check_csrf_value(request, request.headers.get(CSRF_HEADER, ""))


def _region(session: Session, principal: Principal, code: str) -> Region:
    return auth.access_region(session, principal=principal, code=code)


# ---------------------------------------------------------------- login and account


@router.post(
    "/api/v1/auth/login",
    response_model=LoginResponse,
    summary="Log in: sets the kc_session cookie and returns the CSRF token for writes",
    responses=error_responses(400, 401, 422, 429),
)
def login(body: LoginRequest, request: Request, response: Response, session: DbSession) -> LoginResponse:
    user, token = auth.login(
        session,
        throttle=login_throttle(request),
        email=body.email,
        password=body.password,
        days=request.app.state.settings.session_days,
        user_agent=request.headers.get("user-agent", ""),
    )
    start_browser_session(request, response, session, token)
    return LoginResponse(user=UserRead.model_validate(user), csrf_token=csrf_token(request))


@router.post(
    "/api/v1/auth/logout",
    response_model=LogoutResponse,
    summary="Log out: ends this login and removes the cookie",
    responses=error_responses(401, 403),
)
def logout(
    request: Request, response: Response, session: DbSession, principal: CurrentPrincipal
) -> LogoutResponse:
    if principal.kind != "user":
        response.delete_cookie(SESSION_COOKIE, path="/")
        return LogoutResponse(logged_out=False)
    _require_csrf(request, principal)
    return LogoutResponse(logged_out=end_browser_session(request, response, session))


def _me(session: Session, principal: Principal) -> MeRead:
    access.require_login(principal)
    user = auth.get_user(session, principal.user_id) if principal.user_id is not None else None
    region_code = regions.get_region(session, principal.region_id).code if principal.region_id else None
    return MeRead.model_validate(
        {
            "kind": principal.kind,
            "label": principal.label,
            "role": principal.role,
            "region_code": region_code,
            "office_id": principal.office_id,
            "permissions": sorted(principal.permissions),
            "user": UserRead.model_validate(user) if user else None,
        }
    )


@router.get("/api/v1/auth/me", response_model=MeRead, summary="Who is asking", responses=error_responses(401))
def me(session: DbSession, principal: CurrentPrincipal) -> MeRead:
    return _me(session, principal)


@router.patch(
    "/api/v1/auth/me",
    response_model=MeRead,
    summary="Change your name or language",
    responses=error_responses(400, 401, 403, 422),
)
def patch_me(
    body: ProfileUpdate, request: Request, session: DbSession, principal: CurrentPrincipal
) -> MeRead:
    access.require_login(principal)
    _require_csrf(request, principal)
    auth.update_profile(session, principal=principal, full_name=body.full_name, language=body.language)
    return _me(session, principal)


@router.post(
    "/api/v1/auth/password",
    response_model=UserRead,
    summary="Change your password; your other logins end",
    responses=error_responses(400, 401, 403, 422),
)
def change_password(
    body: PasswordChange, request: Request, session: DbSession, principal: CurrentPrincipal
) -> UserRead:
    access.require_login(principal)
    if principal.kind != "user" or principal.user_id is None:
        raise PermissionDenied(_("Only a user account has a password."))
    _require_csrf(request, principal)
    auth.change_password(
        session,
        principal=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_session_id=principal.session_id,
    )
    return UserRead.model_validate(auth.get_user(session, principal.user_id))


# ---------------------------------------------------------------- users of a region


@router.get(
    "/api/v1/regions/{region_code}/users",
    response_model=list[UserRead],
    summary="Accounts of the region (region admin)",
    responses=READ_ERRORS,
)
def list_users(region_code: RegionCode, session: DbSession, principal: CurrentPrincipal) -> list[UserRead]:
    region = _region(session, principal, region_code)
    return [
        UserRead.model_validate(u) for u in auth.list_users(session, principal=principal, region_id=region.id)
    ]


@router.post(
    "/api/v1/regions/{region_code}/users",
    response_model=UserRead,
    status_code=201,
    summary="Create an account in the region (region admin)",
    responses=WRITE_ERRORS,
)
def create_user(
    region_code: RegionCode, body: UserCreate, session: DbSession, principal: CurrentPrincipal
) -> UserRead:
    region = _region(session, principal, region_code)
    access.require_region_admin(principal, region.id, permission="users:write")
    user = auth.create_user(
        session,
        email=body.email,
        full_name=body.full_name,
        password=body.password,
        role=body.role,
        region_id=region.id,
        office_id=body.office_id,
        language=body.language,
        actor=principal,
    )
    return UserRead.model_validate(user)


@router.get(
    "/api/v1/regions/{region_code}/users/{user_id}",
    response_model=UserRead,
    summary="An account of the region (region admin)",
    responses=READ_ERRORS,
)
def get_user(
    region_code: RegionCode, user_id: ObjectId, session: DbSession, principal: CurrentPrincipal
) -> UserRead:
    region = _region(session, principal, region_code)
    return UserRead.model_validate(
        auth.get_region_user(session, principal=principal, region_id=region.id, user_id=user_id)
    )


@router.patch(
    "/api/v1/regions/{region_code}/users/{user_id}",
    response_model=UserRead,
    summary="Activate or deactivate an account, or change its role or office (region admin)",
    responses=WRITE_ERRORS,
)
def patch_user(
    region_code: RegionCode,
    user_id: ObjectId,
    body: UserUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
) -> UserRead:
    region = _region(session, principal, region_code)
    user = auth.update_user(
        session,
        principal=principal,
        region_id=region.id,
        user_id=user_id,
        is_active=body.is_active,
        role=body.role,
        office_id=body.office_id,
        clear_office="office_id" in body.model_fields_set and body.office_id is None,
    )
    return UserRead.model_validate(user)


# ---------------------------------------------------------------- API keys


@router.get(
    "/api/v1/permissions",
    response_model=list[PermissionRead],
    summary="Permissions an API key can be granted",
    responses=error_responses(401),
)
def list_permissions(request: Request) -> list[PermissionRead]:
    lang = language(request)
    return [
        PermissionRead(code=code, description=gettext(lang, text))
        for code, text in sorted(PERMISSIONS.items())
    ]


@router.get(
    "/api/v1/regions/{region_code}/api-keys",
    response_model=list[ApiKeyRead],
    summary="API keys of the region (an office operator sees the own office's)",
    responses=READ_ERRORS,
)
def list_api_keys(
    region_code: RegionCode, session: DbSession, principal: CurrentPrincipal
) -> list[ApiKeyRead]:
    region = _region(session, principal, region_code)
    keys = auth.list_api_keys(session, principal=principal, region_id=region.id)
    return [ApiKeyRead.model_validate(k) for k in keys]


@router.post(
    "/api/v1/regions/{region_code}/api-keys",
    response_model=ApiKeyCreated,
    status_code=201,
    summary="Create an API key; the secret is in this response only",
    responses=WRITE_ERRORS,
)
def create_api_key(
    region_code: RegionCode, body: ApiKeyCreate, session: DbSession, principal: CurrentPrincipal
) -> ApiKeyCreated:
    region = _region(session, principal, region_code)
    key, secret = auth.create_api_key(
        session,
        principal=principal,
        region_id=region.id,
        name=body.name,
        permissions=body.permissions,
        office_id=body.office_id,
        entity_types=body.entity_types,
    )
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(key).model_dump(), "secret": secret})


@router.delete(
    "/api/v1/regions/{region_code}/api-keys/{key_id}",
    response_model=ApiKeyRead,
    summary="Revoke an API key",
    responses=READ_ERRORS,
)
def revoke_api_key(
    region_code: RegionCode, key_id: ObjectId, session: DbSession, principal: CurrentPrincipal
) -> ApiKeyRead:
    region = _region(session, principal, region_code)
    return ApiKeyRead.model_validate(
        auth.revoke_api_key(session, principal=principal, region_id=region.id, key_id=key_id)
    )


# ---------------------------------------------------------------- audit log


@router.get(
    "/api/v1/regions/{region_code}/audit",
    response_model=AuditPage,
    summary="The region's audit log, newest first (region admin, national evaluator)",
    responses=READ_ERRORS,
)
def list_audit(
    region_code: RegionCode,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> AuditPage:
    region = _region(session, principal, region_code)
    rows, total = auth.list_audit(
        session, principal=principal, region_id=region.id, limit=limit, offset=offset
    )
    return AuditPage(
        items=[AuditRead.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )
