"""Start the TUI: decide graphics before Textual starts, open services, run, close."""

from __future__ import annotations

from dalletui.config import Settings


def launch(settings: Settings) -> int:
    from dalletui.tui import graphics

    graphics.configure(settings.graphics)
    from dalletui.services.context import open_services
    from dalletui.tui.app import make_app

    services = open_services(settings)
    try:
        make_app(services).run()
    finally:
        services.close()
    return 0
