"""The Textual app (never imports openai or peewee: it talks to services only)."""
