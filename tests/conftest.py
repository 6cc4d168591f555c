import pytest

pytest.register_assert_rewrite("lake.testing")  # the shared helpers' asserts explain themselves like the tests' own

pytest_plugins = ["lake.testing.plugin"]
