#!/usr/bin/env bash
# Until the first release, the schema is one migration: regenerate it from the models.
# After a release, add migrations with: .venv/bin/alembic -c alembic.ini revision --autogenerate -m "..."
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f src/kotacerdas/migrations/versions/0001_initial*.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from kotacerdas.migrate import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/regen.sqlite3")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001_initial")
import glob, os
for f in glob.glob("src/kotacerdas/migrations/versions/0001_initial_*.py"):
    os.rename(f, "src/kotacerdas/migrations/versions/0001_initial.py")
PY
rm -rf "$tmp"
.venv/bin/ruff format -q src/kotacerdas/migrations/versions/0001_initial.py || true
echo "regenerated src/kotacerdas/migrations/versions/0001_initial.py"
