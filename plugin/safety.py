"""Permission for destructive steps on live targets: named exactly, and confirmed when protected."""

from __future__ import annotations

import os

CONFIRM_PROTECTED_ENV = "DEPLOY_GATES_CONFIRM_PROTECTED"


def permission_problem(target: str, protected: bool, allowed: str | None) -> str | None:
    """Why destructive steps may not run on the live target ``target``; None when they may."""
    if allowed is None:
        how = f"pass --allow-destructive={target}"
        if protected:
            how += f" and set {CONFIRM_PROTECTED_ENV}={target}"
        return f"{target!r} is live ({how})"
    if allowed != target:
        return (f"--allow-destructive={allowed} does not name the target {target!r}; "
                "it must name the target exactly")
    if protected and os.environ.get(CONFIRM_PROTECTED_ENV) != target:
        return (f"target {target!r} is protected: destructive steps on it also need "
                f"{CONFIRM_PROTECTED_ENV}={target} in the environment")
    return None
