"""Users, sessions, API keys and the audit log. No HTTP here; the caller owns the transaction.

The service is split by sub-domain; every name other modules use stays importable from here, so
callers keep writing ``from kotacerdas.auth import service as auth``. Each module imports only the
ones listed before it, and none imports this one:

- ``kotacerdas.auth.audit``: the audit log, written and read;
- ``kotacerdas.auth.accounts``: users, passwords, login sessions and the login throttle;
- ``kotacerdas.auth.api_keys``: API keys and the per-process cache of resolved keys;
- this module: the region named in a URL (``access_region``).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from kotacerdas.auth.access import Principal, require_login
from kotacerdas.auth.accounts import (
    REGION_ROLES as REGION_ROLES,
    LoginThrottle as LoginThrottle,
    authenticate as authenticate,
    change_password as change_password,
    create_user as create_user,
    end_session as end_session,
    get_region_user as get_region_user,
    get_user as get_user,
    list_users as list_users,
    login as login,
    principal_for_user as principal_for_user,
    resolve_session as resolve_session,
    set_user_active as set_user_active,
    start_session as start_session,
    update_profile as update_profile,
    update_user as update_user,
)
from kotacerdas.auth.api_keys import (
    KEY_CACHE_SECONDS as KEY_CACHE_SECONDS,
    KEY_PREFIX as KEY_PREFIX,
    LAST_USED_EVERY as LAST_USED_EVERY,
    create_api_key as create_api_key,
    forget_api_keys as forget_api_keys,
    list_api_keys as list_api_keys,
    resolve_api_key as resolve_api_key,
    revoke_api_key as revoke_api_key,
)
from kotacerdas.auth.audit import list_audit as list_audit, record_audit as record_audit
from kotacerdas.region import service as region_service
from kotacerdas.region.models import Region

# ---------------------------------------------------------------- access


def access_region(session: Session, *, principal: Principal, code: str) -> Region:
    """The region named in a URL, once the caller is logged in: anonymous learns nothing, not even
    whether the region exists. What the caller may do there is checked by the caller's service."""
    require_login(principal)
    return region_service.get_region_by_code(session, code)
