"""Every table, imported in one place so Alembic and the tests see the whole metadata."""

from kotacerdas.auth.models import ApiKey, AuditEntry, User, UserSession
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
    "Programme",
    "ProgrammeBudget",
    "ProgrammeYearStatus",
    "Realisation",
    "Region",
    "User",
    "UserSession",
]
