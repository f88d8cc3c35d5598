"""The graphics layer is an object the app is given, not module state (issue 13, "Paint").

Two apps in one process draw in their own modes; widgets find the layer through their app; the
one private Textual attribute the image widget reads (whether output is held back) is checked
against Textual's public ``batch_update`` here, so a Textual upgrade that renames it fails
loudly instead of leaving stale images on screen.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from dalletui.services.context import Services
from dalletui.tui import graphics
from dalletui.tui.app import make_app
from dalletui.tui.graphics import Graphics
from dalletui.tui.graphics.widgets import ImageView, _output_held


def _picture(tmp_path: Path) -> Path:
    path = tmp_path / "red.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(path)
    return path


class Host(App[None]):
    """A foreign app with no ``graphics`` of its own: its widgets use the default layer."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield Static("host")


async def test_an_app_draws_with_the_layer_it_was_given(services: Services, tmp_path: Path) -> None:
    path = _picture(tmp_path)
    graphics.configure("halfcell")
    given = Graphics.forced("unicode", (10, 20))
    app = make_app(services, graphics=given)
    assert app.graphics is given
    async with app.run_test(size=(80, 24)) as pilot:
        view = graphics.of(app.screen).preview(path, box=(8, 4))
        await app.screen.mount(view)
        await pilot.pause()
        assert isinstance(view, ImageView)
        assert view.image_mode == "unicode"
        assert view.cell_size == (10, 20)
    # The default layer was left as it was, and an app given none follows it.
    assert graphics.current().mode == "halfcell"
    other = make_app(services)
    assert other.graphics.mode == "halfcell"
    graphics.configure("unicode")
    assert other.graphics.mode == "unicode"  # read when asked, as before the app ran
    graphics.configure("halfcell")


async def test_a_foreign_app_uses_the_default_layer(tmp_path: Path) -> None:
    path = _picture(tmp_path)
    graphics.configure("halfcell")
    app = Host(path)
    async with app.run_test(size=(40, 10)) as pilot:
        widget: Widget = graphics.of(app.screen).preview(path, box=(8, 4))
        await app.screen.mount(widget)
        await pilot.pause()
        assert isinstance(widget, ImageView) and widget.image_mode == "halfcell"


def test_off_gives_a_sentence_not_a_picture(tmp_path: Path) -> None:
    layer = Graphics.forced("off")
    widget = layer.preview(_picture(tmp_path))
    assert isinstance(widget, Static) and "preview-off" in widget.classes
    assert layer.renderer_name() == "off"
    assert layer.shutdown_sequence() == ""


async def test_output_held_follows_textuals_batch_update() -> None:
    """``_output_held`` reads ``App._batch_count`` (Textual 8 has no public way to ask)."""
    app = Host(Path("unused"))
    async with app.run_test(size=(40, 10)):
        assert not _output_held(app)
        with app.batch_update():
            assert _output_held(app)
            with app.batch_update():
                assert _output_held(app)
            assert _output_held(app)
        assert not _output_held(app)


async def test_the_private_textual_names_dalletui_relies_on_still_exist() -> None:
    """Textual 8 offers no public way for these, so each is used in one guarded place; a
    Textual upgrade that moves one fails here, not as stale images on screen:

    - ``Screen._compositor.visible_widgets`` / ``.cuts``: does a toast cover an image?
      (``Screen.get_widgets_at`` is public but per cell);
    - ``App._batch_count``: is output held back (``batch_update``)?
    - ``App._driver.write``: a kitty image is sent once, outside a frame;
    - ``textual.widgets._footer.FooterKey``: the footer's keys, updated in place.
    """
    from textual.widgets._footer import FooterKey

    assert FooterKey is not None
    app = Host(Path("unused"))
    async with app.run_test(size=(40, 10)):
        compositor = app.screen._compositor
        assert isinstance(compositor.visible_widgets, dict)
        assert isinstance(compositor.cuts, list)
        assert app._batch_count == 0
        assert callable(app._driver.write)  # type: ignore[union-attr]
