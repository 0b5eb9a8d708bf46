"""Registers the deploy-gates pytest plugin for runs from this directory."""

pytest_plugins = ["fixtures.plugin"]
