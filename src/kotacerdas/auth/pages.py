"""Pages of logging in and out, the own account and API keys, and the region admin's users and audit log.

Forms are checked with the API's schemas; a form that does not pass is shown again with its messages
(422), and what the service refuses is shown the same way, so bad input never becomes an error page.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from kotacerdas.auth import access, service as auth
from kotacerdas.auth.access import PERMISSIONS, Principal
from kotacerdas.auth.api import end_browser_session, login_throttle, start_browser_session
from kotacerdas.auth.models import User
from kotacerdas.auth.schemas import ApiKeyCreate, LoginRequest, PasswordChange, ProfileUpdate, UserCreate
from kotacerdas.errors import (
    KotaCerdasError,
    NotAuthenticated,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from kotacerdas.i18n import _, gettext
from kotacerdas.region import service as regions
from kotacerdas.region.models import Region
from kotacerdas.web.deps import (
    LANG_COOKIE,
    CurrentPrincipal,
    DbSession,
    csrf_protect,
    language,
)
from kotacerdas.web.render import render
from kotacerdas.web.schemas import MAX_ID, form_errors

router = APIRouter(include_in_schema=False)
CSRF = [Depends(csrf_protect)]
AUDIT_PAGE_SIZE = 50

TextField = Annotated[str, Form()]
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]

DONE = {
    "profile": _("Your profile has been saved."),
    "password": _("Your password has been changed. Your other logins have been ended."),
    "revoked": _("The API key has been revoked."),
    "created": _("The account has been created."),
    "activated": _("The account has been activated."),
    "deactivated": _("The account has been deactivated; its logins have ended."),
}


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path of this site, never another host."""
    if not target or len(target) > 500 or any(c in target for c in "\\\r\n\t\x00"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _flash(request: Request, done: str | None) -> dict[str, str] | None:
    if done in DONE:
        return {"kind": "ok", "message": gettext(language(request), DONE[done])}
    return None


def own_region(session: Session, principal: Principal) -> Region:
    access.require_login(principal)
    if principal.region_id is None:
        raise PermissionDenied(_("This page is for the staff of a region."))
    return regions.get_region(session, principal.region_id)


# ---------------------------------------------------------------- login and logout


def _login_page(
    request: Request, *, next_url: str, email: str = "", error: str | None = None, status: int = 200
) -> HTMLResponse:
    return render(request, "auth/login.html", {"next": next_url, "email": email, "error": error}, status)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, principal: CurrentPrincipal, next: str = "") -> Response:
    if principal.kind == "user":
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


@router.post("/login", response_class=HTMLResponse, dependencies=CSRF)
def login_submit(
    request: Request,
    session: DbSession,
    email: TextField = "",
    password: TextField = "",
    next: TextField = "",
) -> Response:
    next_url = safe_next(next)
    lang = language(request)
    try:
        data = LoginRequest(email=email, password=password)
    except ValidationError:
        message = gettext(lang, _("Enter your e-mail address and password."))
        return _login_page(request, next_url=next_url, email=email[:200], error=message, status=422)
    try:
        _user, token = auth.login(
            session,
            throttle=login_throttle(request),
            email=data.email,
            password=data.password,
            days=request.app.state.settings.session_days,
            user_agent=request.headers.get("user-agent", ""),
        )
    except (NotAuthenticated, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 422
        return _login_page(
            request, next_url=next_url, email=data.email, error=exc.translated(lang), status=status
        )
    response = RedirectResponse(next_url, status_code=303)
    start_browser_session(request, response, session, token)
    return response


@router.post("/logout", dependencies=CSRF)
def logout_submit(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    response = RedirectResponse("/", status_code=303)
    end_browser_session(request, response, session)
    return response


# ---------------------------------------------------------------- own account


def _account_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    flash: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    access.require_login(principal)
    if principal.user_id is None:
        raise PermissionDenied(_("Only a user account has a profile."))
    user = auth.get_user(session, principal.user_id)
    region = regions.get_region(session, user.region_id) if user.region_id else None
    office = (
        regions.get_office(session, region_id=user.region_id, office_id=user.office_id)
        if user.region_id and user.office_id
        else None
    )
    context = {
        "user": user,
        "region": region,
        "office": office,
        "error": error,
        "errors": errors or {},
        "form": form or {"full_name": user.full_name, "language": user.language},
        "flash": flash,
    }
    return render(request, "auth/account.html", context, status)


@router.get("/account", response_class=HTMLResponse)
def account(
    request: Request, session: DbSession, principal: CurrentPrincipal, done: str | None = None
) -> Response:
    return _account_page(request, session, principal, flash=_flash(request, done))


@router.post("/account", response_class=HTMLResponse, dependencies=CSRF)
def account_submit(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    full_name: TextField = "",
    chosen_language: Annotated[str, Form(alias="language")] = "",
) -> Response:
    access.require_login(principal)
    form = {"full_name": full_name, "language": chosen_language}
    try:
        data = ProfileUpdate.model_validate(form)
        user = auth.update_profile(
            session, principal=principal, full_name=data.full_name, language=data.language
        )
    except (ValidationError, KotaCerdasError) as exc:
        errors = form_errors(exc, language(request))
        return _account_page(
            request, session, principal, error=errors.general, errors=errors, form=form, status=422
        )
    response = RedirectResponse("/account?done=profile", status_code=303)
    # the language chosen here wins over the one picked earlier with ?lang=
    response.set_cookie(LANG_COOKIE, user.language, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


@router.post("/account/password", response_class=HTMLResponse, dependencies=CSRF)
def password_submit(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    current_password: TextField = "",
    new_password: TextField = "",
    new_password_again: TextField = "",
) -> Response:
    access.require_login(principal)
    try:
        data = PasswordChange(current_password=current_password, new_password=new_password)
        if new_password != new_password_again:
            raise ValidationFailed(
                _("The two new passwords are not the same."), details=[{"field": "new_password_again"}]
            )
        auth.change_password(
            session,
            principal=principal,
            current_password=data.current_password,
            new_password=data.new_password,
            keep_session_id=principal.session_id,
        )
    except (ValidationError, KotaCerdasError) as exc:
        errors = form_errors(exc, language(request))
        return _account_page(request, session, principal, error=errors.general, errors=errors, status=422)
    return RedirectResponse("/account?done=password", status_code=303)


# ---------------------------------------------------------------- own API keys


def _keys_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    created: dict[str, Any] | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    flash: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    region = own_region(session, principal)
    keys = auth.list_api_keys(session, principal=principal, region_id=region.id)
    offices = regions.list_offices(session, region_id=region.id)
    lang = language(request)
    context = {
        "region": region,
        "keys": keys,
        "offices": offices,
        "office_names": {o.id: o.short_name for o in offices},
        "office_options": [(o.id, o.short_name) for o in offices],
        "permissions": [(code, gettext(lang, text)) for code, text in sorted(PERMISSIONS.items())],
        "created": created,
        "error": error,
        "errors": errors or {},
        "form": form or {"name": "", "permissions": [], "office_id": "", "entity_types": ""},
        "flash": flash,
    }
    return render(request, "auth/api_keys.html", context, status)


@router.get("/account/api-keys", response_class=HTMLResponse)
def api_keys(
    request: Request, session: DbSession, principal: CurrentPrincipal, done: str | None = None
) -> Response:
    return _keys_page(request, session, principal, flash=_flash(request, done))


@router.post("/account/api-keys", response_class=HTMLResponse, dependencies=CSRF)
def api_key_create(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    name: TextField = "",
    permissions: Annotated[list[str] | None, Form()] = None,
    office_id: TextField = "",
    entity_types: TextField = "",
) -> Response:
    region = own_region(session, principal)
    form = {
        "name": name,
        "permissions": permissions or [],
        "office_id": office_id,
        "entity_types": entity_types,
    }
    try:
        types = [t.strip() for t in entity_types.replace("\n", ",").split(",") if t.strip()]
        data = ApiKeyCreate.model_validate(
            {
                "name": name,
                "permissions": permissions or [],
                "office_id": office_id or None,
                "entity_types": types or None,
            }
        )
        key, secret = auth.create_api_key(
            session,
            principal=principal,
            region_id=region.id,
            name=data.name,
            permissions=data.permissions,
            office_id=data.office_id,
            entity_types=data.entity_types,
        )
    except (ValidationError, ValidationFailed) as exc:
        errors = form_errors(exc, language(request))
        return _keys_page(
            request, session, principal, error=errors.general, errors=errors, form=form, status=422
        )
    # shown in this response only: the secret is not stored, so there is no page to come back to
    return _keys_page(request, session, principal, created={"name": key.name, "secret": secret}, status=201)


@router.post("/account/api-keys/{key_id}/revoke", dependencies=CSRF)
def api_key_revoke(key_id: ObjectId, session: DbSession, principal: CurrentPrincipal) -> Response:
    region = own_region(session, principal)
    auth.revoke_api_key(session, principal=principal, region_id=region.id, key_id=key_id)
    return RedirectResponse("/account/api-keys?done=revoked", status_code=303)


# ---------------------------------------------------------------- the region admin's users


def _users_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    flash: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    region = own_region(session, principal)
    users: list[User] = list(auth.list_users(session, principal=principal, region_id=region.id))
    offices = regions.list_offices(session, region_id=region.id)
    context = {
        "region": region,
        "users": users,
        "offices": offices,
        "office_names": {o.id: o.short_name for o in offices},
        "office_options": [(o.id, o.short_name) for o in offices],
        "error": error,
        "errors": errors or {},
        "form": form or {"role": "office_operator", "language": "id"},
        "flash": flash,
    }
    return render(request, "auth/users.html", context, status)


@router.get("/admin/users", response_class=HTMLResponse)
def users(
    request: Request, session: DbSession, principal: CurrentPrincipal, done: str | None = None
) -> Response:
    return _users_page(request, session, principal, flash=_flash(request, done))


@router.post("/admin/users", response_class=HTMLResponse, dependencies=CSRF)
def user_create(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    email: TextField = "",
    full_name: TextField = "",
    password: TextField = "",
    role: TextField = "",
    office_id: TextField = "",
    chosen_language: Annotated[str, Form(alias="language")] = "id",
) -> Response:
    region = own_region(session, principal)
    access.require_region_admin(principal, region.id, permission="users:write")
    form = {
        "email": email,
        "full_name": full_name,
        "role": role,
        "office_id": office_id,
        "language": chosen_language,
    }
    try:
        data = UserCreate.model_validate({**form, "password": password, "office_id": office_id or None})
        auth.create_user(
            session,
            email=data.email,
            full_name=data.full_name,
            password=data.password,
            role=data.role,
            region_id=region.id,
            office_id=data.office_id,
            language=data.language,
            actor=principal,
        )
    except (ValidationError, KotaCerdasError) as exc:
        if isinstance(exc, KotaCerdasError) and exc.status not in (404, 409, 422):
            raise
        errors = form_errors(exc, language(request))
        return _users_page(
            request, session, principal, error=errors.general, errors=errors, form=form, status=422
        )
    return RedirectResponse("/admin/users?done=created", status_code=303)


@router.post("/admin/users/{user_id}/active", response_class=HTMLResponse, dependencies=CSRF)
def user_set_active(
    request: Request,
    user_id: ObjectId,
    session: DbSession,
    principal: CurrentPrincipal,
    active: TextField = "",
) -> Response:
    region = own_region(session, principal)
    if active not in ("0", "1"):
        return _users_page(
            request, session, principal, error=gettext(language(request), _("Choose yes or no.")), status=422
        )
    try:
        auth.update_user(
            session, principal=principal, region_id=region.id, user_id=user_id, is_active=active == "1"
        )
    except ValidationFailed as exc:
        errors = form_errors(exc, language(request))
        return _users_page(request, session, principal, error=errors.general, status=422)
    return RedirectResponse(
        f"/admin/users?done={'activated' if active == '1' else 'deactivated'}", status_code=303
    )


# ---------------------------------------------------------------- the audit log


@router.get("/admin/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    region = own_region(session, principal)
    rows, total = auth.list_audit(
        session,
        principal=principal,
        region_id=region.id,
        limit=AUDIT_PAGE_SIZE,
        offset=(page - 1) * AUDIT_PAGE_SIZE,
    )
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    context = {"region": region, "entries": rows, "total": total, "page": page, "pages": pages}
    return render(request, "auth/audit.html", context)
