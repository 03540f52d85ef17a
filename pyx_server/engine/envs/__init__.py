"""Environments: interpreters, venvs, discovery, the environment store, run stamps."""
