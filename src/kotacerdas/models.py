"""Every table, imported in one place so Alembic and the tests see the whole metadata."""

from kotacerdas.auth.models import ApiKey, AuditEntry, User, UserSession
from kotacerdas.citizen.models import (
    CategoryRoute,
    CitizenOutbox,
    OfficeChannel,
    PublicService,
    RegionDayOff,
    Report,
    ReportCategory,
    ReportCounter,
    ReportEvent,
    ReportPhoto,
    ReportSupport,
)
from kotacerdas.db import Base
from kotacerdas.hub.models import (
    HubContextDoc,
    HubEntity,
    HubHistory,
    HubTypeAttribute,
    HubTypePolicy,
)
from kotacerdas.hub.models_subscriptions import (
    HubDeletedEntity,
    HubNotifyCursor,
    HubNotifyOutbox,
    HubSubscription,
)
from kotacerdas.masterplan.models import (
    Evidence,
    Indicator,
    IndicatorTarget,
    Masterplan,
    MasterplanSection,
    Programme,
    ProgrammeBudget,
    ProgrammeYearStatus,
    Realisation,
)
from kotacerdas.region.models import Area, Office, Region

__all__ = [
    "ApiKey",
    "Area",
    "AuditEntry",
    "Base",
    "CategoryRoute",
    "CitizenOutbox",
    "Evidence",
    "HubContextDoc",
    "HubDeletedEntity",
    "HubEntity",
    "HubHistory",
    "HubNotifyCursor",
    "HubNotifyOutbox",
    "HubSubscription",
    "HubTypeAttribute",
    "HubTypePolicy",
    "Indicator",
    "IndicatorTarget",
    "Masterplan",
    "MasterplanSection",
    "Office",
    "OfficeChannel",
    "Programme",
    "ProgrammeBudget",
    "ProgrammeYearStatus",
    "PublicService",
    "Realisation",
    "Region",
    "RegionDayOff",
    "Report",
    "ReportCategory",
    "ReportCounter",
    "ReportEvent",
    "ReportPhoto",
    "ReportSupport",
    "User",
    "UserSession",
]
