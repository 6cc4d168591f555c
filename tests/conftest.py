pytest_plugins = ["lake.testing.plugin"]
