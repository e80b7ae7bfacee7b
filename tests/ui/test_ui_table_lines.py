"""RowTable draws a row in one style as one string (_plain_row): the same cells, the same
styles as the general way (a strip of the whole row, cropped to the screen, its cut
columns marked with an ellipsis)."""

from __future__ import annotations

from tuimon.ui.table import RowTable
from tests.support.app import RecordingBackend, played_service, settle
from tuimon.ui.app import MonitorApp


def cells(strip) -> list:
    """Each cell of a line: (character, style)."""
    return [(ch, seg.style) for seg in strip for ch in seg.text]


def both_ways(table) -> list[tuple]:
    """Every line drawn as it is, and the general way (no _plain_row)."""
    lines = []
    for y in range(table.size.height):
        fast = table.render_line(y)
        table._plain_row = lambda *a: None
        try:
            general = table.render_line(y)
        finally:
            del table._plain_row
        lines.append((y, fast, general))
    return lines


async def test_rows_drawn_as_one_string_are_the_general_ways_cell_for_cell():
    app = MonitorApp(RecordingBackend(played_service()), interval=None, view="conversations")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.table
        assert table._expired, "the capture's expired conversations (dimmed) are needed"
        expired_row = min(table._expired) - int(table.scroll_y) + 1
        fast_rows = 0
        for scroll_x in (0, 3, 17, 40, 500):  # cut columns at both edges, then past the end
            table.scroll_to(x=scroll_x, animate=False)
            await settle(pilot)
            for y, fast, general in both_ways(table):
                assert cells(fast) == cells(general), (scroll_x, y)
                assert fast.cell_length == general.cell_length == table.size.width - 1
            fast_rows += sum(table._plain_row(i, table._base_style, table.columns,
                                              table._widths(), int(table.scroll_x),
                                              table.scrollable_content_region.width)
                             is not None for i in range(table.total))
        assert fast_rows, "no row was drawn as one string"
        assert 0 < expired_row < table.size.height
        await pilot.press("down", "down")  # the cursor's row, extended to the table's width
        await settle(pilot)
        table.scroll_to(x=0, animate=False)
        await settle(pilot)
        for y, fast, general in both_ways(table):
            assert cells(fast) == cells(general), y


def test_a_row_with_wide_characters_is_left_to_the_general_way():
    table = RowTable("conversations")
    table._cells = {0: ["名前", "x"]}
    table.total = 1
    assert table._plain_row(0, None, table.columns[:2], [6, 3], 0, 20) is None


async def test_the_margins_rows_are_formatted_when_first_asked_for():
    """A page holds a screen of rows either side of the screen: they are formatted when
    drawn (or asked for), as they would have been with the page."""
    app = MonitorApp(RecordingBackend(played_service()), interval=None, view="conversations")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        table = app.table
        await pilot.press("pagedown")
        await settle(pilot)
        top, rows = int(table.scroll_y), table.page_rows
        held = sorted(table._rows)
        margin = [i for i in held if not top <= i <= top + rows]
        assert margin, "the page should hold rows off the screen"
        # (Textual draws the line under the horizontal scrollbar too: one row more)
        assert all(top <= i <= top + rows for i in table._cells._done), (
            top, rows, str(sorted(table._cells._done)))
        for i in margin:
            row = table._rows[i]
            assert table._cells[i] == [
                c.cell(row, table.human, table.names) if c.named else c.cell(row, table.human)
                for c in table.columns]
        assert sorted(table._cells) == held
