"""The numbered steps of a runbook document, in each way the seed runbooks number them."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_gates.reports.runbookdoc import Step, steps

DOCUMENT = """\
# Release runbook

## Table of Contents
1. [Checklist](#checklist)

I. Readiness checklist (Ops lead)
---------------------------------
- [ ] Code merged

II. Deployment process
----------------------
Step 1 — Apply migrations
^^^^^^^^^^^^^^^^^^^^^^^^^
3.1 Observability checks
^^^^^^^^^^^^^^^^^^^^^^^^
1) Using Grafana: force an alert.

High-level Rules
----------------
1) Migrations first.

### PRE-DEPLOYMENT CHECKLIST (13:00)

```
[ ] 1. Database Backup
```

### DEPLOYMENT STEPS

#### Phase 1: Database Migrations (5-10 minutes)

```bash
# 1. Backup current database
pg_dump > backup.sql
# Test 2: Health check
```

Step 1.3: Verify Migration Success

### ROLLBACK PROCEDURE (If Issues Found)

**Option 1: Helm Rollback (Recommended)**

```
Step 1: Notify Team
# 2. Check history
```

### 24 Hours Before

**Success Criteria:**
- Users synced
"""


def test_every_numbering_style_of_the_seeds(tmp_path: Path) -> None:
    path = tmp_path / "RUNBOOK.md"
    path.write_text(DOCUMENT)
    assert steps(path) == [
        Step("I", "Readiness checklist (Ops lead)"),
        Step("II", "Deployment process"),
        Step("II.1", "Apply migrations", "II"),
        Step("II.3.1", "Observability checks", "II"),
        Step("II.3.1.1", "Using Grafana: force an alert.", "II.3.1"),
        Step("PRE-DEPLOYMENT CHECKLIST 1", "Database Backup"),
        Step("DEPLOYMENT STEPS 1", "Database Migrations (5-10 minutes)"),
        Step("DEPLOYMENT STEPS 1.1", "Backup current database", "DEPLOYMENT STEPS 1"),
        Step("DEPLOYMENT STEPS 1.2", "Health check", "DEPLOYMENT STEPS 1"),
        Step("DEPLOYMENT STEPS 1.3", "Verify Migration Success", "DEPLOYMENT STEPS 1"),
        Step("ROLLBACK PROCEDURE 1", "Helm Rollback (Recommended)"),
        Step("ROLLBACK PROCEDURE 1.1", "Notify Team", "ROLLBACK PROCEDURE 1"),
        Step("ROLLBACK PROCEDURE 1.2", "Check history", "ROLLBACK PROCEDURE 1"),
    ]


def test_a_number_used_once_is_the_documents_own(tmp_path: Path) -> None:
    path = tmp_path / "RUNBOOK.md"
    path.write_text("## 4. Staging Deployment\n\n### Step 1: Take a backup\n\n## 10. Troubleshooting\n")
    assert steps(path) == [Step("4", "Staging Deployment"), Step("4.1", "Take a backup", "4"),
                           Step("10", "Troubleshooting")]


def test_a_number_given_twice_is_named(tmp_path: Path) -> None:
    path = tmp_path / "RUNBOOK.md"
    path.write_text("## 1. Backup\n\n## 1. Deploy\n")
    with pytest.raises(ValueError, match=r"RUNBOOK.md: step 1 is numbered twice under one heading"):
        steps(path)
