# migrations/versions/abc123_add_published_column.py
# Example migration script
"""Add published column to posts

Revision ID: abc123
Revises: xyz789
Create Date: 2026-02-02 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

# Revision identifiers
revision = 'abc123'
down_revision = 'xyz789'
branch_labels = None
depends_on = None


def upgrade():
    """Apply the migration - add the published column"""
    # Add new column with default value
    op.add_column('posts', sa.Column('published', sa.Boolean(), default=False))

    # Set existing posts to published=True
    op.execute("UPDATE posts SET published = 1")


def downgrade():
    """Revert the migration - remove the published column"""
    op.drop_column('posts', 'published')
