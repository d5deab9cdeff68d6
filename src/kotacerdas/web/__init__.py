"""Web: the request plumbing shared by every domain's API and pages.

The unit of work per request, the principal (session cookie or API key), the language, CSRF
protection, Jinja2 rendering with translations, and the error renderers. Imports ``auth.service``.
"""
