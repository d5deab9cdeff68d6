"""An office's notification channels: where it hears of the reports disposed to it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kotacerdas.auth import service as auth
from kotacerdas.auth.access import Principal, require_office_write
from kotacerdas.citizen.models import OfficeChannel
from kotacerdas.citizen.schemas import ChannelRead
from kotacerdas.config import get_settings
from kotacerdas.errors import NotFound, ValidationFailed
from kotacerdas.i18n import Message, _
from kotacerdas.kit.outbound import DestinationRefused, OutboundPolicy
from kotacerdas.region import service as regions


def _check_target(kind: str, target: str, outbound: OutboundPolicy) -> None:
    if kind == "email" and ("@" not in target or " " in target):
        raise ValidationFailed(details={"target": _("Enter a valid e-mail address.")})
    if kind == "webhook" and not target.startswith(("http://", "https://")):
        raise ValidationFailed(details={"target": _("A webhook URL must start with http:// or https://.")})
    if kind == "webhook":
        # server-side request forgery: no webhook to loopback, private or link-local addresses unless
        # the operator allows them; a name that does not resolve now is checked at each delivery
        try:
            outbound.check_url(target, lenient=True)
        except DestinationRefused as exc:
            refused = Message(
                _(
                    "The server may not send webhooks to this address ({reason}). Addresses on the "
                    "Pemda's own network must be allowed by the operator (KOTACERDAS_OUTBOUND_ALLOW)."
                ),
                reason=exc.reason,
            )
            raise ValidationFailed(details={"target": refused}) from None


def list_channels(
    session: Session, *, principal: Principal, region_id: int, office_id: int
) -> Sequence[OfficeChannel]:
    require_office_write(principal, region_id, office_id, permission="reports:manage")
    return session.scalars(
        select(OfficeChannel)
        .where(OfficeChannel.region_id == region_id, OfficeChannel.office_id == office_id)
        .order_by(OfficeChannel.id)
    ).all()


def add_channel(
    session: Session,
    *,
    principal: Principal,
    region_id: int,
    office_id: int,
    kind: str,
    target: str,
    secret: str = "",
    active: bool = True,
    outbound: OutboundPolicy | None = None,
) -> OfficeChannel:
    """``outbound``: the installation's rule for webhook destinations (default: the process's settings)."""
    require_office_write(principal, region_id, office_id, permission="reports:manage")
    regions.get_office(session, region_id=region_id, office_id=office_id)
    _check_target(kind, target, outbound or OutboundPolicy.from_settings(get_settings()))
    row = OfficeChannel(
        region_id=region_id, office_id=office_id, kind=kind, target=target, secret=secret, active=active
    )
    session.add(row)
    session.flush()
    auth.record_audit(
        session,
        actor=principal,
        region_id=region_id,
        action="office_channel.create",
        entity_type="office_channel",
        entity_id=row.id,
        summary=f"{kind} {target}",
    )
    return row


def remove_channel(
    session: Session, *, principal: Principal, region_id: int, office_id: int, channel_id: int
) -> None:
    require_office_write(principal, region_id, office_id, permission="reports:manage")
    row = session.get(OfficeChannel, channel_id)
    if row is None or row.region_id != region_id or row.office_id != office_id:
        raise NotFound(_("Channel not found."))
    session.delete(row)
    session.flush()


def channel_read(row: OfficeChannel) -> ChannelRead:
    return ChannelRead(
        id=row.id,
        kind=row.kind,
        target=row.target,
        active=row.active,
        signed=bool(row.secret),
        created_at=row.created_at,
    )
