"""What an office enters for its own programmes from the pages: a year's status and an indicator's
realisation with its evidence (a URL and/or an uploaded file) or computed from its data source, and
the deletion of a realisation.

Who may post is checked before the form is read, so a refused post changes nothing and says 403. A form
that does not pass, or a file that is too large or of the wrong kind, shows the page again with the
message next to the field and the status of the problem (413, 415, 422); the stored realisation stays.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from kotacerdas.auth.access import require_office_write
from kotacerdas.errors import Conflict, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from kotacerdas.i18n import _
from kotacerdas.kit.files import DirectoryStore
from kotacerdas.masterplan import schemas as s, service
from kotacerdas.masterplan.models import Evidence, Indicator, Realisation
from kotacerdas.masterplan.pagekit import (
    PageScope,
    Scope,
    format_measure,
    int_or_none,
    parse_number,
)
from kotacerdas.masterplan.pages_edit import confirm_page
from kotacerdas.masterplan.pages_views import indicator_page, programme_page
from kotacerdas.web.deps import DbSession, csrf_protect
from kotacerdas.web.forms import PostedForm, text
from kotacerdas.web.schemas import FormErrors, form_errors

router = APIRouter()
CSRF = [Depends(csrf_protect)]

YEAR_FIELDS = {
    "A status for {year} lies outside the programme's years.": "year",
    "The year must lie within the masterplan period {start}-{end}.": "year",
    "Evidence file not found in this region.": "evidence_file",
}


@router.post("/programmes/{programme_id:int}/status", dependencies=CSRF)
def programme_status(
    request: Request, session: DbSession, scope: PageScope, form: PostedForm, programme_id: int
) -> Response:
    programme = service.get_programme(
        session, principal=scope.principal, region_id=scope.region_id, programme_id=programme_id
    )
    require_office_write(scope.principal, scope.region_id, programme.lead_office_id)
    values = {"year": text(form, "year"), "status": text(form, "status"), "note": text(form, "note")}
    try:
        data = s.YearStatusWrite.model_validate(values)
        service.set_year_status(
            session,
            principal=scope.principal,
            region_id=scope.region_id,
            programme_id=programme_id,
            data=data,
        )
    except ValidationError as exc:
        errors = form_errors(exc, scope.lang)
        return programme_page(
            request, session, scope, programme_id, status_form=values, errors=errors, status_code=422
        )
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        errors = form_errors(exc, scope.lang, fields=YEAR_FIELDS)
        return programme_page(
            request, session, scope, programme_id, status_form=values, errors=errors, status_code=exc.status
        )
    return RedirectResponse(f"{scope.base}/programmes/{programme_id}?ok=status#status", status_code=303)


@router.post("/indicators/{indicator_id:int}/realisation", dependencies=CSRF)
def indicator_realisation(
    request: Request, session: DbSession, scope: PageScope, form: PostedForm, indicator_id: int
) -> Response:
    principal, region_id = scope.principal, scope.region_id
    indicator = service.get_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id
    )
    require_office_write(
        principal, region_id, service.indicator_office_id(session, region_id=region_id, indicator=indicator)
    )
    values = {k: text(form, k) for k in ("year", "value", "note", "evidence_url")}

    def again(errors: FormErrors, status_code: int) -> Response:
        session.rollback()
        if not errors.general:
            errors.general = (
                scope.t(_("The realisation was not saved.")) + " " + next(iter(errors.values()), "")
            )
        return indicator_page(
            request,
            session,
            scope,
            indicator_id,
            realisation_form=values,
            errors=errors,
            status_code=status_code,
        )

    errors = FormErrors()
    value = parse_number(values["value"]) if values["value"] else None
    if value is None:
        errors["value"] = scope.t(_("Enter a number.") if values["value"] else _("This field is required."))
    try:
        data = s.RealisationWrite.model_validate(
            {
                "year": values["year"],
                "value": value if value is not None else 0,
                "note": values["note"],
                "evidence_url": values["evidence_url"] or None,
            }
        )
    except ValidationError as exc:
        errors = FormErrors(form_errors(exc, scope.lang) | errors)
    if errors:
        return again(errors, 422)

    previous = next((r for r in indicator.realisations if r.year == data.year), None)
    upload = form.get("evidence_file")
    settings = request.app.state.settings
    store = DirectoryStore(settings.upload_dir)
    stored: Evidence | None = None
    if isinstance(upload, UploadFile) and upload.filename:
        try:
            stored = service.store_evidence(
                session,
                principal=principal,
                region_id=region_id,
                store=store,
                filename=upload.filename,
                data=upload.file.read(settings.upload_max_bytes + 1),
                max_bytes=settings.upload_max_bytes,
            )
        except (PayloadTooLarge, UnsupportedMediaType, ValidationFailed) as exc:
            return again(FormErrors(evidence_file=exc.translated(scope.lang)), exc.status)
        data = data.model_copy(update={"evidence_id": stored.id})
    elif previous is not None and previous.evidence_id is not None and form.get("keep_evidence") == "1":
        data = data.model_copy(update={"evidence_id": previous.evidence_id})
    try:
        service.record_realisation(
            session, principal=principal, region_id=region_id, indicator_id=indicator_id, data=data
        )
    except (ValidationFailed, Conflict, NotFound) as exc:
        if stored is not None:
            store.delete(stored.storage_key)
        return again(form_errors(exc, scope.lang, fields=YEAR_FIELDS), exc.status)
    return RedirectResponse(
        f"{scope.base}/indicators/{indicator_id}?ok=realisation&year={data.year}#history", status_code=303
    )


@router.post("/indicators/{indicator_id:int}/refresh-source", dependencies=CSRF)
def indicator_refresh_source(
    request: Request, session: DbSession, scope: PageScope, form: PostedForm, indicator_id: int
) -> Response:
    """The year's realisation computed from the indicator's data source (``refresh_from_source``)."""
    principal, region_id = scope.principal, scope.region_id
    indicator = service.get_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id
    )
    require_office_write(
        principal, region_id, service.indicator_office_id(session, region_id=region_id, indicator=indicator)
    )
    year = int_or_none(text(form, "year"))
    try:
        if year is None:
            raise ValidationFailed(_("Choose a year of the masterplan period."))
        service.refresh_from_source(
            session, principal=principal, region_id=region_id, indicator_id=indicator_id, year=year
        )
    except (ValidationFailed, Conflict) as exc:
        session.rollback()
        errors = FormErrors(refresh=exc.translated(scope.lang))
        return indicator_page(request, session, scope, indicator_id, errors=errors, status_code=exc.status)
    return RedirectResponse(
        f"{scope.base}/indicators/{indicator_id}?ok=refreshed&year={year}#history", status_code=303
    )


# ---------------------------------------------------------------- deleting a realisation


def _realisation_to_delete(
    session: Session, scope: Scope, indicator_id: int, year: int
) -> tuple[Indicator, Realisation]:
    """The realisation, once the principal is known to be the lead office or the region admin."""
    principal, region_id = scope.principal, scope.region_id
    indicator = service.get_indicator(
        session, principal=principal, region_id=region_id, indicator_id=indicator_id
    )
    require_office_write(
        principal, region_id, service.indicator_office_id(session, region_id=region_id, indicator=indicator)
    )
    realisation = next((r for r in indicator.realisations if r.year == year), None)
    if realisation is None:
        raise NotFound(_("No realisation for {year}."), year=year)
    return indicator, realisation


@router.get("/indicators/{indicator_id:int}/realisations/{year:int}/delete", response_class=HTMLResponse)
def realisation_delete_confirm(
    request: Request, session: DbSession, scope: PageScope, indicator_id: int, year: int
) -> Response:
    indicator, realisation = _realisation_to_delete(session, scope, indicator_id, year)
    return confirm_page(
        request,
        scope,
        {
            "what": scope.t(_("realisation")),
            "name": f"{indicator.code} {indicator.name} · {year}: {format_measure(realisation.value)} {indicator.unit}",
            "consequence": scope.t(
                _(
                    "The realised value, note and evidence of {year} are removed from the indicator; {year} counts as not reported again."
                ),
                year=year,
            ),
            "cancel": f"{scope.base}/indicators/{indicator.id}#history",
        },
    )


@router.post("/indicators/{indicator_id:int}/realisations/{year:int}/delete", dependencies=CSRF)
def realisation_delete(
    request: Request, session: DbSession, scope: PageScope, indicator_id: int, year: int
) -> Response:
    indicator, _realisation = _realisation_to_delete(session, scope, indicator_id, year)
    service.delete_realisation(
        session, principal=scope.principal, region_id=scope.region_id, indicator_id=indicator.id, year=year
    )
    return RedirectResponse(
        f"{scope.base}/indicators/{indicator.id}?ok=realisation_deleted&year={year}#history", status_code=303
    )
