"""The rough edges a new user hits (issue 18): driven with Textual's Pilot."""

from __future__ import annotations

from tests.support.app import PCAP, make_app, settle
from tuimon.config import Config
from tuimon.server.service import EngineService


def default_service(path: str = PCAP) -> EngineService:
    """``tuimon -r FILE --speed 0`` with the default idle timeouts (conversations expire)."""
    svc = EngineService(Config(read=path, speed=0.0), clock=lambda: 50.0,
                        wallclock=lambda: 1700000000.0)
    svc.run_all()
    return svc


def status_text(app) -> str:
    return str(app.filterbar.status.render())


async def test_expired_conversations_stay_listed_dimmed_and_counted():
    """1kxun.pcap: 68 conversations in the table at its end, 129 idle past their timeout;
    the view lists all 197, the expired ones dim, and the status line says how many."""
    app = make_app(view="conversations", service=default_service())
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.table
        assert table.total == 197
        assert "197 rows  129 expired (dim)" in status_text(app)
        shown = [i for i in table._rows if i < table.page_rows]
        dim = [i for i in shown if i in table._expired]
        assert dim and len(dim) < len(shown)  # expired rows among the active ones
        expired_style = table.get_component_rich_style("rowtable--expired")
        row = dim[0] if dim[0] != table.state.cursor else dim[1]
        strip = table.render_line(row - int(table.scroll_y) + 1)
        assert all(seg.style is not None and seg.style.dim for seg in strip if seg.text.strip())
        assert expired_style.dim
        active = next(i for i in shown if i not in table._expired and i != table.state.cursor)
        strip = table.render_line(active - int(table.scroll_y) + 1)
        assert not any(seg.style is not None and seg.style.dim for seg in strip)
