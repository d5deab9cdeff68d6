"""Auth: users and roles, login sessions, CSRF, API keys for machines, and the audit log.

Words: principal = whoever makes a request (a user through a session, or a machine through an API
key); role = national_evaluator, region_admin, office_operator or citizen; permission = what an API key
may do (``masterplan:read``...). Permission-checked lookups live in ``auth.access``.
Imports ``region.service`` only.
"""
