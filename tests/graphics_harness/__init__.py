"""Test helpers for terminal graphics: a pty harness with fake terminals, and decoders for the
sixel and kitty streams dalletui writes (so tests can check pixels, not just bytes)."""
