"""Reading posted HTML forms, shared by every domain's pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData


async def read_form(request: Request) -> FormData:
    """The posted form, parsed once (the CSRF check has usually parsed it already; Starlette keeps it),
    so that handlers can stay sync."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(read_form)]


def text(form: FormData | Mapping[str, Any], name: str) -> str:
    """A field's text, stripped; "" when it is missing or is a file."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
