"""Temporary: the parity harness (tests/fixtures/parity.py) under its old top-level name, for the add-on test
that imports tests/test_addon_ui.py in a child Blender process with tests/ on sys.path. Remove it when the
add-on tests move to tests/blender_addon/ (issue #15)."""

from fixtures.parity import *
