"""hub: an R*Tree of entity bounding boxes on SQLite, kept by triggers, for near and geo queries

Revision ID: 0006_hub_geo_rtree
Revises: 0005_indicator_source
Create Date: 2026-11-22 23:05:00

On SQLite the B-tree on the bounding-box columns can range over one coordinate only, so a near
query in a dense town read every entity in a band across the whole regency. The R*Tree answers a box
from the boxes that meet it. Triggers keep it in step with ``hub_entity`` (only when a location
actually moves, so sensor upserts pay nothing). PostgreSQL keeps the B-tree: near queries there
search in small rings (hub.service._query_near) and stay within the index.
"""

from alembic import op

revision = "0006_hub_geo_rtree"
down_revision = "0005_indicator_source"
branch_labels = None
depends_on = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE hub_entity_rtree USING rtree(pk, min_lon, max_lon, min_lat, max_lat)",
    "INSERT INTO hub_entity_rtree SELECT pk, min_lon, max_lon, min_lat, max_lat FROM hub_entity "
    "WHERE min_lat IS NOT NULL",
    """CREATE TRIGGER hub_entity_rtree_insert AFTER INSERT ON hub_entity
       WHEN NEW.min_lat IS NOT NULL
       BEGIN
         INSERT INTO hub_entity_rtree VALUES (NEW.pk, NEW.min_lon, NEW.max_lon, NEW.min_lat, NEW.max_lat);
       END""",
    """CREATE TRIGGER hub_entity_rtree_update AFTER UPDATE OF min_lon, min_lat, max_lon, max_lat ON hub_entity
       WHEN OLD.min_lon IS NOT NEW.min_lon OR OLD.min_lat IS NOT NEW.min_lat
         OR OLD.max_lon IS NOT NEW.max_lon OR OLD.max_lat IS NOT NEW.max_lat
       BEGIN
         DELETE FROM hub_entity_rtree WHERE pk = OLD.pk;
         INSERT INTO hub_entity_rtree SELECT NEW.pk, NEW.min_lon, NEW.max_lon, NEW.min_lat, NEW.max_lat
           WHERE NEW.min_lat IS NOT NULL;
       END""",
    """CREATE TRIGGER hub_entity_rtree_delete AFTER DELETE ON hub_entity
       BEGIN
         DELETE FROM hub_entity_rtree WHERE pk = OLD.pk;
       END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS hub_entity_rtree_delete",
    "DROP TRIGGER IF EXISTS hub_entity_rtree_update",
    "DROP TRIGGER IF EXISTS hub_entity_rtree_insert",
    "DROP TABLE IF EXISTS hub_entity_rtree",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
