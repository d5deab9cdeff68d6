"""Settings: the operator's documentation lists every key, and production refuses placeholder secrets."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from kotacerdas.config import DEV_SECRET, Settings

ADMIN_GUIDE = Path(__file__).resolve().parent.parent / "docs" / "admin-guide.md"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No KOTACERDAS_* variable and no .env file of the developer's machine leaks into these checks."""
    for name in list(os.environ):
        if name.startswith("KOTACERDAS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_every_setting_is_documented_in_the_admin_guide_with_its_environment_name() -> None:
    guide = ADMIN_GUIDE.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(KOTACERDAS_[A-Z0-9_]+)`", guide))
    expected = {f"KOTACERDAS_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "add these keys to docs/admin-guide.md"
    # a key documented but gone from Settings misleads operators just as much
    not_settings = {"KOTACERDAS_NEW_PASSWORD", "KOTACERDAS_TEST_POSTGRES_URL"}
    not_settings |= {"KOTACERDAS_REQUIRE_SERVICES", "KOTACERDAS_TEST_BACKENDS"}
    assert documented - expected - not_settings == set(), "these keys are not in Settings any more"


def test_production_refuses_the_default_secret_key(clean_env: None) -> None:
    with pytest.raises(ValidationError, match="KOTACERDAS_SECRET_KEY"):
        Settings(environment="production")


def test_production_refuses_a_short_secret_key(clean_env: None) -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(environment="production", secret_key="x" * 31)


def test_production_accepts_a_long_random_secret_and_sets_secure_cookies(clean_env: None) -> None:
    secret = secrets.token_urlsafe(48)[:48]
    settings = Settings(environment="production", secret_key=secret)
    assert settings.secret_key == secret
    assert settings.secure_cookies is True


def test_production_reads_the_secret_from_the_environment(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOTACERDAS_ENVIRONMENT", "production")
    monkeypatch.setenv("KOTACERDAS_SECRET_KEY", "s" * 48)
    assert Settings().secure_cookies is True


def test_development_defaults_work_without_configuration(clean_env: None, tmp_path: Path) -> None:
    settings = Settings()
    assert settings.environment == "development"
    assert settings.secret_key == DEV_SECRET
    assert settings.secure_cookies is False
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'data' / 'kotacerdas.sqlite3'}"
    assert settings.upload_dir == Path("data") / "files"


def test_an_explicit_database_url_wins_over_the_sqlite_default(clean_env: None) -> None:
    url = "postgresql+psycopg://kotacerdas@127.0.0.1:5432/kotacerdas"
    assert Settings(database_url=url).resolved_database_url == url
