"""Shared fixtures: fast test-only KDF cost, offscreen Qt, real keyring sessions."""

import os

# Tests lower the Argon2id cost through the test-only setting; one test in
# tests/unit/crypto asserts the production floor with this switched off.
os.environ.setdefault("DESKTOP_CRM_TEST_KDF", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["support.secret_service", "support.vault_fixtures"]
