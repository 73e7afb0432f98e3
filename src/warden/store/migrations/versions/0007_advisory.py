"""policy advisory decisions and the review queue (issue 15).

Revision 0007 is reserved for this feature so that features built side by side keep one
linear history; its tables are added by the feature's own commit.
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
