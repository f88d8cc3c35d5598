"""A checkbox whose glyph says its state, not only its colour."""

from __future__ import annotations

from textual.widgets import Checkbox


class StateCheckbox(Checkbox):
    """``▐X▌`` when on, ``▐ ▌`` when off.

    Textual draws ``X`` in both states and tells them apart by colour alone (dark grey against
    green). In 256 colours (tmux without RGB), with ``NO_COLOR`` or to a colour-blind eye the
    two look the same: an unchecked box read as checked.
    """

    BUTTON_ON = "X"
    BUTTON_OFF = " "

    @property  # type: ignore[override]
    def BUTTON_INNER(self) -> str:  # noqa: N802 (Textual's name for the glyph)
        return self.BUTTON_ON if self.value else self.BUTTON_OFF
