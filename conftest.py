# Root conftest: the option and skip rules live in tests/conftest.py; hil_tests/ reuses them.
pytest_plugins = ["tests.conftest_plugin"]
