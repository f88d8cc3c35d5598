"""dalletui: a keyboard-first terminal studio for OpenAI image generation."""

__version__ = "0.1.0"
