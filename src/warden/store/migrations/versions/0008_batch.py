"""batch files, jobs and line results (issue 17).

Revision 0008 is reserved for this feature so that features built side by side keep one
linear history; its tables are added by the feature's own commit.
"""

from __future__ import annotations

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
