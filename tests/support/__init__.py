"""Support modules for the tests: the bot harness, serving, a local Dask cluster, synthesized audio."""
