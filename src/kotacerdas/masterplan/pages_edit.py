"""The region admin's forms: create, edit and delete masterplans, programmes and indicators.

A form is read into the API's schema (``masterplan.schemas``) and handed to the same service function
the API calls. What the schema or the service refuses is shown next to the field it is about, with
the form as it was typed and status 422 (409 for a clash with stored data); nothing is stored then.
Only the region admin reaches these forms; everyone else gets 403 before anything is read.

This module has the masterplan's own form and the deletions, and the helpers every form shares;
``pages_edit_items`` has the programme and indicator forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from kotacerdas.auth.access import require_region_admin
from kotacerdas.errors import Conflict, KotaCerdasError, ValidationFailed
from kotacerdas.framework import service as framework
from kotacerdas.i18n import _
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.masterplan.models import Masterplan
from kotacerdas.masterplan.pagekit import (
    LABELS,
    PageScope,
    Scope,
    int_or_none,
    lines,
    options,
)
from kotacerdas.web.deps import DbSession, csrf_protect
from kotacerdas.web.forms import PostedForm, text
from kotacerdas.web.render import render
from kotacerdas.web.schemas import FormErrors, form_errors

router = APIRouter()
CSRF = [Depends(csrf_protect)]
ID = "{masterplan_id:int}"

PLACEMENT_MESSAGES = {
    "Element {element} is not part of dimension {dimension}.": "placement",
    "Dimension {code} is not part of framework edition {edition}.": "placement",
}
MASTERPLAN_FIELDS = {
    "A masterplan with this title and start year already exists.": "title",
    "A masterplan covers 5 to 10 years (start and end year included).": "end_year",
    "Programmes, targets or realisations lie outside {start}-{end}; move them into the new period first.": "start_year",
    "Framework edition {code} does not exist.": "framework_edition",
}


def form_context(scope: Scope, **extra: Any) -> dict[str, Any]:
    return {
        "region": scope.region,
        "base": scope.base,
        "labels": LABELS,
        "options": lambda pairs: options(pairs, scope.lang),
        **extra,
    }


def require_admin(scope: Scope) -> None:
    require_region_admin(scope.principal, scope.region_id)


def load_plan(session: Session, scope: Scope, masterplan_id: int) -> Masterplan:
    return service.get_masterplan(
        session, principal=scope.principal, region_id=scope.region_id, masterplan_id=masterplan_id
    )


def build_schema(
    scope: Scope, model: type[BaseModel], payload: dict[str, Any], errors: FormErrors, rename: dict[str, str]
) -> Any:
    """``model`` built from ``payload``, or None with the complaints added to ``errors``."""
    try:
        built = model.model_validate(payload)
    except ValidationError as exc:
        for field, message in form_errors(exc, scope.lang, rename=rename).items():
            errors.setdefault(field, message)
        return None
    return built if not errors else None


def refused(scope: Scope, session: Session, exc: KotaCerdasError, fields: dict[str, str]) -> FormErrors:
    session.rollback()
    return form_errors(exc, scope.lang, fields=fields)


def check_year_order(scope: Scope, values: dict[str, str], errors: FormErrors) -> None:
    start, end = int_or_none(values.get("start_year")), int_or_none(values.get("end_year"))
    if start is not None and end is not None and end < start:
        errors["end_year"] = scope.t(_("The end year is before the start year."))


def finish(errors: FormErrors, scope: Scope) -> FormErrors:
    if errors and not errors.general:
        errors.general = scope.t(_("Please correct the marked fields."))
    return errors


# ---------------------------------------------------------------- masterplans


def _masterplan_values(plan: Masterplan | None, scope: Scope) -> dict[str, str]:
    if plan is None:
        year = scope.year
        return {
            "start_year": str(year),
            "end_year": str(year + 4),
            "status": "draft",
            "framework_edition": scope.region.framework_edition,
        }
    values = {
        "title": plan.title,
        "start_year": str(plan.start_year),
        "end_year": str(plan.end_year),
        "framework_edition": plan.framework_edition,
        "legal_basis_number": plan.legal_basis_number or "",
        "legal_basis_date": plan.legal_basis_date.isoformat() if plan.legal_basis_date else "",
        "vision": plan.vision,
        "missions": "\n".join(plan.missions),
        "status": plan.status,
    }
    values |= {f"section-{sec.kind}": sec.body for sec in plan.sections}
    return values


def _masterplan_form(
    request: Request,
    scope: Scope,
    *,
    plan: Masterplan | None,
    values: dict[str, str],
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "masterplan/masterplan_form.html",
        form_context(
            scope,
            plan=plan,
            values=values,
            errors=errors or FormErrors(),
            editions=[
                (e.code, e.name.id if scope.lang == "id" else e.name.en) for e in framework.list_editions()
            ],
        ),
        status_code,
    )


def _read_masterplan(
    form: FormData, scope: Scope, *, creating: bool
) -> tuple[dict[str, str], Any, FormErrors]:
    names = [
        "title",
        "start_year",
        "end_year",
        "legal_basis_number",
        "legal_basis_date",
        "vision",
        "missions",
        "status",
    ]
    names += ["framework_edition"] if creating else []
    names += [f"section-{kind}" for kind in LABELS.section]
    values = {name: text(form, name) for name in names}
    errors = FormErrors()
    start, end = int_or_none(values["start_year"]), int_or_none(values["end_year"])
    if start is not None and end is not None and not 5 <= end - start + 1 <= 10:
        errors["end_year"] = scope.t(_("A masterplan covers 5 to 10 years (start and end year included)."))
    payload: dict[str, Any] = {
        "title": values["title"],
        "start_year": values["start_year"],
        "end_year": values["end_year"],
        "legal_basis_number": values["legal_basis_number"] or None,
        "legal_basis_date": values["legal_basis_date"] or None,
        "vision": values["vision"],
        "missions": lines(values["missions"]),
        "status": values["status"],
    }
    if creating:
        payload["framework_edition"] = values["framework_edition"] or None
    model = s.MasterplanCreate if creating else s.MasterplanUpdate
    data = build_schema(scope, model, payload, errors, {})
    for kind in LABELS.section:
        if len(values[f"section-{kind}"]) > 50_000:
            errors[f"section-{kind}"] = scope.t(
                _("This is too long (at most {max_length} characters)."), max_length="50000"
            )
    return values, (None if errors else data), finish(errors, scope)


def _save_sections(session: Session, scope: Scope, plan: Masterplan, values: dict[str, str]) -> None:
    current = {sec.kind: sec.body for sec in plan.sections}
    for kind in LABELS.section:
        body = values[f"section-{kind}"]
        if body != current.get(kind, ""):
            service.set_section(
                session,
                principal=scope.principal,
                region_id=scope.region_id,
                masterplan_id=plan.id,
                kind=kind,
                body=body,
            )


@router.get("/masterplans/new", response_class=HTMLResponse)
def masterplan_new(request: Request, scope: PageScope) -> Response:
    require_admin(scope)
    return _masterplan_form(request, scope, plan=None, values=_masterplan_values(None, scope))


@router.post("/masterplans/new", dependencies=CSRF)
def masterplan_create(request: Request, session: DbSession, scope: PageScope, form: PostedForm) -> Response:
    require_admin(scope)
    values, data, errors = _read_masterplan(form, scope, creating=True)
    if data is not None:
        try:
            plan = service.create_masterplan(
                session, principal=scope.principal, region_id=scope.region_id, data=data
            )
            _save_sections(session, scope, plan, values)
        except (ValidationFailed, Conflict) as exc:
            errors = refused(scope, session, exc, MASTERPLAN_FIELDS)
            return _masterplan_form(
                request, scope, plan=None, values=values, errors=errors, status_code=exc.status
            )
        return RedirectResponse(f"{scope.base}/masterplans/{plan.id}?ok=created", status_code=303)
    return _masterplan_form(request, scope, plan=None, values=values, errors=errors, status_code=422)


@router.get(f"/masterplans/{ID}/edit", response_class=HTMLResponse)
def masterplan_edit(request: Request, session: DbSession, scope: PageScope, masterplan_id: int) -> Response:
    require_admin(scope)
    plan = load_plan(session, scope, masterplan_id)
    return _masterplan_form(request, scope, plan=plan, values=_masterplan_values(plan, scope))


@router.post(f"/masterplans/{ID}/edit", dependencies=CSRF)
def masterplan_update(
    request: Request, session: DbSession, scope: PageScope, form: PostedForm, masterplan_id: int
) -> Response:
    require_admin(scope)
    plan = load_plan(session, scope, masterplan_id)
    values, data, errors = _read_masterplan(form, scope, creating=False)
    if data is not None:
        try:
            service.update_masterplan(
                session,
                principal=scope.principal,
                region_id=scope.region_id,
                masterplan_id=plan.id,
                data=data,
            )
            _save_sections(session, scope, plan, values)
        except (ValidationFailed, Conflict) as exc:
            errors = refused(scope, session, exc, MASTERPLAN_FIELDS)
            return _masterplan_form(
                request, scope, plan=plan, values=values, errors=errors, status_code=exc.status
            )
        return RedirectResponse(f"{scope.base}/masterplans/{plan.id}?ok=saved", status_code=303)
    return _masterplan_form(request, scope, plan=plan, values=values, errors=errors, status_code=422)


# ---------------------------------------------------------------- deleting


def confirm_page(
    request: Request,
    scope: Scope,
    shown: dict[str, str],
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The confirmation: ``shown`` has what (a word), name, consequence and the cancel link."""
    context = form_context(scope, action=request.url.path, error=error, **shown)
    return render(request, "masterplan/confirm_delete.html", context, status_code)


def _delete_page(
    request: Request, session: Session, scope: Scope, kind: str, object_id: int
) -> tuple[dict[str, str], Callable[[], None], str]:
    """What the confirmation shows, the deletion itself, and where to go afterwards."""
    principal, region_id = scope.principal, scope.region_id
    if kind == "masterplan":
        plan = load_plan(session, scope, object_id)
        counts = service.masterplan_counts(session, region_id=region_id, masterplan_id=plan.id)
        return (
            {
                "what": scope.t(_("masterplan")),
                "name": plan.title,
                "consequence": scope.t(
                    _(
                        "Its {programmes} programmes and {indicators} indicators, with their targets and realisations, are deleted too."
                    ),
                    programmes=counts["programme_count"],
                    indicators=counts["indicator_count"],
                ),
                "cancel": f"{scope.base}/masterplans/{plan.id}",
            },
            lambda: service.delete_masterplan(
                session, principal=principal, region_id=region_id, masterplan_id=plan.id
            ),
            f"{scope.base}/masterplans?ok=deleted",
        )
    if kind == "programme":
        programme = service.get_programme(
            session, principal=principal, region_id=region_id, programme_id=object_id
        )
        return (
            {
                "what": scope.t(_("programme")),
                "name": f"{programme.code} {programme.name}",
                "consequence": scope.t(
                    _("Its indicators, targets, realisations, budget lines and statuses are deleted too.")
                ),
                "cancel": f"{scope.base}/programmes/{programme.id}",
            },
            lambda: service.delete_programme(
                session, principal=principal, region_id=region_id, programme_id=programme.id
            ),
            f"{scope.base}/masterplans/{programme.masterplan_id}/roadmap?ok=deleted",
        )
    indicator = service.get_indicator(
        session, principal=principal, region_id=region_id, indicator_id=object_id
    )
    after = (
        f"{scope.base}/programmes/{indicator.programme_id}"
        if indicator.programme_id
        else f"{scope.base}/masterplans/{indicator.masterplan_id}"
    )
    return (
        {
            "what": scope.t(_("indicator")),
            "name": f"{indicator.code} {indicator.name}",
            "consequence": scope.t(_("Its targets and realisations are deleted too.")),
            "cancel": f"{scope.base}/indicators/{indicator.id}",
        },
        lambda: service.delete_indicator(
            session, principal=principal, region_id=region_id, indicator_id=indicator.id
        ),
        f"{after}?ok=deleted",
    )


DELETABLE = {"masterplans": "masterplan", "programmes": "programme", "indicators": "indicator"}


def _delete_routes(prefix: str, kind: str) -> None:
    path = f"/{prefix}/{{object_id:int}}/delete"

    @router.get(path, response_class=HTMLResponse, name=f"{kind}_delete_confirm")
    def confirm(request: Request, session: DbSession, scope: PageScope, object_id: int) -> Response:
        require_admin(scope)
        shown, _delete, _after = _delete_page(request, session, scope, kind, object_id)
        return confirm_page(request, scope, shown)

    @router.post(path, dependencies=CSRF, name=f"{kind}_delete")
    def delete(request: Request, session: DbSession, scope: PageScope, object_id: int) -> Response:
        require_admin(scope)
        shown, run, after = _delete_page(request, session, scope, kind, object_id)
        try:
            run()
        except Conflict as exc:
            session.rollback()
            return confirm_page(
                request, scope, shown, error=exc.translated(scope.lang), status_code=exc.status
            )
        return RedirectResponse(after, status_code=303)


for _prefix, _kind in DELETABLE.items():
    _delete_routes(_prefix, _kind)
