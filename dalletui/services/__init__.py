"""Use cases shared by the TUI and the CLI: generate, search, favourite, templates, usage."""
