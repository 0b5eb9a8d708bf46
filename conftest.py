"""Runs from this checkout: the plugin itself loads through its pytest11 entry point
(plugin/plugin.py), as it does where deploy-gates is installed."""
