"""The accounts of every test lake the plugin's `services` bootstraps: root and alice, by password and as Callers."""

from __future__ import annotations

from lake.logic.auth.permissions import Caller

ROOT_PASSWORD = "root-test-password"
USER = "alice"
USER_PASSWORD = "alice-test-password"
ROOT = Caller(account="root", admin=True)
ALICE = Caller(account=USER, admin=False)
