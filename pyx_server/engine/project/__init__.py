"""Projects: ``pyproject.toml`` discovery, dependencies and groups, edits with tomlkit."""
