"""RowTable: a Line-API table that draws only the lines on screen.

The table never holds a view's rows: it holds the engine's last answer (the visible window
plus a margin) and the total row count, which sizes the scroll area. When the cursor or
the scroll position leaves what it holds, it asks for rows (``NeedRows``); the app sends
the engine a query built from :meth:`RowTable.window`.

The cursor follows a row by key: after the user moves it, the engine keeps that host or
conversation under the cursor while rows move. Before that (or after Home) it stays on
the top row.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from math import ceil

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip

from tuimon.server.protocol import COLUMNS
from tuimon.server.protocol import ALL_VIEWS, DEFAULT_SORT, DEFAULT_SORTS, default_descending
from tuimon.ui.columns import OPTIONAL_COLUMNS, VIEW_COLUMNS, Column

_BASE_KEY = ("rowtable: base",)  # RowTable._base_style in Textual's style cache
BAR_COLUMNS = frozenset({"rate_2s", "rate_10s", "rate_40s"})  # drawn with iftop's bar
# Views with the bars: the few rows of Interfaces. (Hosts and Conversations hold only the
# rows on screen: a scale from them would change as the table scrolls.)
BAR_VIEWS = frozenset({"interfaces"})


@dataclass
class ViewState:
    sort: str = DEFAULT_SORT
    descending: bool = True
    cursor: int = 0
    cursor_key: Hashable | None = None
    tracking: bool = False  # follow cursor_key (the user picked a row)
    scroll_y: int = 0
    scroll_x: int = 0
    widths: dict = field(default_factory=dict)
    total: int = 0  # its row count when last shown: kept while its next page is on the way


def _least_width(column: Column) -> int:
    """A column's width before any row is formatted: its minimum, or its title's."""
    return max(column.width, cell_len(column.title) + 2)


def _fit(text: str, width: int, right: bool) -> str:
    if width <= 0:
        return ""
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


def _set_bar(bar: ScrollBar, virtual_size: int, window_size: int) -> None:
    """Set a scrollbar's sizes, and repaint it only when that moves its thumb or changes
    its length: a live capture's row count changes at most refreshes, the thumb over
    100,000 rows seldom (Textual repainted the 41 lines of the bar at each)."""
    if bar.window_virtual_size == virtual_size and bar.window_size == window_size:
        return
    before = _thumb(bar, bar.window_virtual_size, bar.window_size)
    bar.set_reactive(ScrollBar.window_virtual_size, virtual_size)
    bar.set_reactive(ScrollBar.window_size, window_size)
    if _thumb(bar, virtual_size, window_size) != before:
        bar.refresh()


def _thumb(bar: ScrollBar, virtual_size: int, window_size: int) -> list:
    """The cells of ``bar`` with these sizes, as ScrollBar draws them (its own renderer;
    the colours left out: they do not change with the sizes)."""
    size = bar.size.height if bar.vertical else bar.size.width
    drawn = bar.renderer.render_bar(
        size=size, virtual_size=ceil(virtual_size),
        window_size=ceil(window_size if window_size < virtual_size else 0),
        position=bar.position, thickness=bar.thickness, vertical=bar.vertical)
    return [(segment.text, segment.style) for segment in drawn.segments]


class _Cells(Mapping):
    """The formatted cells of each row held, formatted when first asked for."""

    def __init__(self, rows: dict[int, tuple], format_row: Callable) -> None:
        self._rows = rows
        self._format_row = format_row
        self._done: dict[int, list[str]] = {}

    def __getitem__(self, index: int) -> list[str]:
        cells = self._done.get(index)
        if cells is None:
            cells = self._done[index] = self._format_row(self._rows[index])
        return cells

    def __iter__(self):
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class RowTable(ScrollView, can_focus=True):
    """The rows of one view at a time; switch with :meth:`show_view`."""

    COMPONENT_CLASSES = {"rowtable--header", "rowtable--header-sorted", "rowtable--cursor",
                         "rowtable--missing", "rowtable--bar", "rowtable--expired"}

    DEFAULT_CSS = """
    RowTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
        /* Always there, so a switch between a view that fits the width and one that does
           not leaves the screen's layout as it is (and draws only what changed). */
        overflow-x: scroll;
        background: $surface;
    }
    RowTable > .rowtable--header { text-style: bold; background: $panel; }
    RowTable > .rowtable--header-sorted { text-style: bold underline; background: $panel; color: $accent; }
    RowTable > .rowtable--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: bold;
    }
    RowTable > .rowtable--missing { color: $text-muted; }
    RowTable > .rowtable--expired { color: $text-muted; text-style: dim; }
    RowTable > .rowtable--bar { background: $primary 40%; }
    """

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", tooltip="Previous row", show=False),
        Binding("down", "cursor(1)", "Down", tooltip="Next row", show=False),
        Binding("pageup", "page(-1)", "Page up", tooltip="Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", tooltip="Page down", show=False),
        Binding("home", "home", "Top", tooltip="First row (and stay on top)", show=False),
        Binding("end", "end", "Bottom", tooltip="Last row", show=False),
        Binding("left", "pan(-8)", "Scroll left", tooltip="Scroll the columns left", show=False),
        Binding("right", "pan(8)", "Scroll right", tooltip="Scroll the columns right", show=False),
    ]

    class NeedRows(Message):
        """The table needs the engine's answer for its current window."""

    class SortClicked(Message):
        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, view: str = "hosts", **kwargs) -> None:
        super().__init__(**kwargs)
        self.view = view
        self.states = {v: ViewState(*DEFAULT_SORTS[v]) if v in DEFAULT_SORTS else ViewState()
                       for v in ALL_VIEWS}
        self.human = True
        self.total = 0
        self.empty_text = "no rows yet"
        self._rows: dict[int, tuple] = {}
        self._keys: dict[int, Hashable] = {}
        self._cells: Mapping[int, list[str]] = {}
        self._bars: dict[int, list[int]] = {}  # row -> each column's bar length (0: none)
        self._expired: set[int] = set()  # rows of conversations that left the table (dim)
        self.bars = True  # draw them (b)
        self._applying = False
        self.extra_columns: frozenset = frozenset()  # optional columns shown (columns.py)
        self.names: dict = {}  # address -> name, the page's (names on: n), else empty

    # -- state ---------------------------------------------------------------------------

    @property
    def state(self) -> ViewState:
        return self.states[self.view]

    @property
    def columns(self) -> list[Column]:
        extra = self.extra_columns
        return [c for c in VIEW_COLUMNS[self.view]
                if c.name not in OPTIONAL_COLUMNS or c.name in extra]

    @property
    def page_rows(self) -> int:
        """How many rows fit under the header line."""
        return max(1, self.scrollable_content_region.height - 1)

    def window(self) -> dict:
        """The part of a Query the table decides."""
        st = self.state
        rows = self.page_rows
        return {"view": self.view, "sort": st.sort, "descending": st.descending,
                "offset": int(self.scroll_y), "limit": rows, "margin": rows,
                "cursor": st.cursor, "cursor_key": st.cursor_key if st.tracking else None}

    def cursor_row(self) -> tuple:
        """(key, row) under the cursor; (None, None) when the table holds no such row."""
        cursor = self.state.cursor
        if not 0 <= cursor < self.total:
            return None, None
        return self._keys.get(cursor), self._rows.get(cursor)

    def show_view(self, view: str) -> None:
        if view == self.view:
            return
        st = self.state
        st.scroll_y, st.scroll_x = int(self.scroll_y), int(self.scroll_x)
        st.total = self.total
        self.view = view
        self._rows, self._keys, self._cells, self._bars = {}, {}, {}, {}
        self._expired = set()
        # The view's count when it was last shown, not 0, until its page comes: a scroll
        # area that shrank to nothing and grew back would hide and show the scrollbars,
        # and so lay the whole screen out again at every switch.
        self.total = self.state.total
        self._set_scroll(self.state.scroll_x, self.state.scroll_y)
        self._update_virtual_size()
        self.refresh()

    def set_sort(self, column: str, descending: bool | None = None) -> None:
        st = self.state
        if column not in COLUMNS[self.view]:
            return
        st.sort = column
        st.descending = default_descending(column) if descending is None else descending
        self.show_column(column)
        self.refresh()

    def show_column(self, name: str) -> None:
        """Scroll the columns so that column ``name`` is on screen (the sorted one: the
        status line alone should not be what says which column orders the rows)."""
        left = 0
        for column, width in zip(self.columns, self._widths()):
            if column.name == name:
                screen = self.scrollable_content_region.width
                x = int(self.scroll_x)
                if left + width > x + screen:
                    x = left + width - screen
                if left < x:
                    x = left
                if x != int(self.scroll_x):
                    self.scroll_to(x=x, animate=False)
                return
            left += width + 1

    def move_sort(self, step: int) -> str:
        names = [c.name for c in self.columns]
        index = names.index(self.state.sort) if self.state.sort in names else 0
        self.set_sort(names[(index + step) % len(names)])
        return self.state.sort

    def set_bars(self, bars: bool) -> None:
        self.bars = bars
        self._format()
        self.refresh()

    def set_human(self, human: bool) -> None:
        self.human = human
        for st in self.states.values():
            st.widths.clear()
        self._format()
        self.refresh()

    # -- the engine's answer -------------------------------------------------------------------

    def apply_page(self, page) -> None:
        if page.view != self.view:
            return
        st = self.state
        self.total = page.total
        self._rows = {page.start + i: row for i, row in enumerate(page.rows)}
        self._keys = {page.start + i: key for i, key in enumerate(page.keys)}
        self.names = page.names
        self._expired = {page.start + i for i in page.expired}
        st.sort, st.descending = page.sort, page.descending
        st.cursor = page.cursor
        if st.tracking:
            st.cursor_key = page.cursor_key
        self._update_virtual_size()
        self._set_scroll(None, page.offset)
        self._format()
        self._update_virtual_size()
        self.refresh()

    def _format(self) -> None:
        """Format the cells; size the columns to the rows on screen (never the margin's, nor
        rows scrolled past: one long address must not push columns off every screen)."""
        human = self.human
        widths = self.state.widths
        columns = self.columns
        widths.clear()
        for column in columns:
            widths[column.name] = max(column.width, cell_len(column.title) + 2)
        names = self.names

        def format_row(row) -> list[str]:
            return [column.cell(row, human, names) if column.named else
                    column.cell(row, human) for column in columns]

        # The margin's rows are formatted when first drawn: most pages are replaced by
        # the next before a row of their margin is.
        self._cells = _Cells(self._rows, format_row)
        top = int(self.scroll_y)
        bottom = top + self.page_rows
        for index in range(top, bottom):
            if index not in self._rows:
                continue
            cells = self._cells[index]
            for column, text in zip(columns, cells):
                n = cell_len(text)
                if n > widths[column.name]:
                    widths[column.name] = min(n, column.max_width) if column.max_width else n
        self._bars = self._bar_lengths(columns, widths)

    def _bar_lengths(self, columns: list[Column], widths: dict) -> dict[int, list[int]]:
        """iftop's bars: behind each rate, a bar as long as the column is wide times the
        rate over the largest rate of the rows held (one scale for the three windows)."""
        rated = [i for i, column in enumerate(columns) if column.name in BAR_COLUMNS]
        if not rated or not self.bars or self.view not in BAR_VIEWS:
            return {}
        names = [columns[i].name for i in rated]
        peak = max((getattr(row, name) or 0.0 for row in self._rows.values() for name in names),
                   default=0.0)
        if peak <= 0:
            return {}
        bars = {}
        for index, row in self._rows.items():
            lengths = [0] * len(columns)
            for i, name in zip(rated, names):
                value = getattr(row, name) or 0.0
                if value > 0:
                    lengths[i] = max(1, round(value / peak * widths[name]))
            bars[index] = lengths
        return bars

    def _widths(self) -> list[int]:
        widths = self.state.widths
        return [widths[c.name] if c.name in widths else _least_width(c) for c in self.columns]

    def _update_virtual_size(self) -> None:
        width = sum(self._widths()) + len(self.columns) - 1
        size = Size(width, self.total + 1)
        if size == self.virtual_size:
            return
        if not self.container_size:  # not laid out yet: the first layout sizes it
            self.virtual_size = size
            return
        # Without a layout of the screen (the reactive's): the row count changes at most
        # refreshes of a live capture and at every view switch, the table's place never.
        # The scrollbars follow (_scroll_update); one that appears or goes asks for the
        # layout itself (show_*_scrollbar).
        self.set_reactive(RowTable.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def _scroll_update(self, virtual_size: Size) -> None:
        """Textual's, without repainting the scrollbars when their numbers did not change
        (their reactives repaint them when they do). Textual calls it at every layout of
        the screen; its scrollbars' repaint then cost a frame more, the 42 lines of the
        vertical bar drawn again (a page's header and status line are laid out too)."""
        self._refresh_scrollbars()
        width, height = self.container_size
        if self.show_vertical_scrollbar and self.styles.scrollbar_size_vertical:
            _set_bar(self.vertical_scrollbar, virtual_size.height,
                     height - self.scrollbar_size_horizontal)
        if self.show_horizontal_scrollbar and self.styles.scrollbar_size_horizontal:
            _set_bar(self.horizontal_scrollbar, virtual_size.width,
                     width - self.scrollbar_size_vertical)
        self.scroll_x = self.validate_scroll_x(self.scroll_x)
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def _set_scroll(self, x: int | None, y: int | None) -> None:
        self._applying = True
        try:
            if x is not None:
                self.scroll_target_x = self.scroll_x = x
            if y is not None:
                self.scroll_target_y = self.scroll_y = y
        finally:
            self._applying = False

    # -- drawing -------------------------------------------------------------------------

    @property
    def _base_style(self) -> Style:
        """The widget's Rich style, kept as Textual keeps its component styles (until the
        next refresh or change of style): Textual works it out again at each call, from
        every ancestor's styles, which cost as much as the rest of a line."""
        cache = self._rich_style_cache
        style = cache.get(_BASE_KEY)
        if style is None:
            style = cache[_BASE_KEY] = self.rich_style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x = int(self.scroll_x)
        base = self._base_style
        columns, widths = self.columns, self._widths()
        if y == 0:
            strip = self._header_strip(base, columns, widths)
        else:
            index = int(self.scroll_y) + y - 1
            plain = self._plain_row(index, base, columns, widths, scroll_x, width)
            if plain is not None:
                return plain
            strip = self._row_strip(index, base, y, columns, widths)
        full = strip.cell_length
        strip = strip.crop_extend(scroll_x, scroll_x + width, base)
        # A column cut by the screen's edge ends (or starts) in an ellipsis, so that a cut
        # "732.5 kb" or "86" is not read as a whole value (its unit gone).
        if width > 1 and full > scroll_x + width and self._cut_at(scroll_x + width, widths):
            strip = self._mark(strip, width - 1)
        if width > 1 and scroll_x > 0 and full > scroll_x and self._cut_at(scroll_x, widths):
            strip = self._mark(strip, 0)
        return strip

    def _plain_row(self, index: int, base: Style, columns: list[Column], widths: list[int],
                   scroll_x: int, width: int) -> Strip | None:
        """The line of a row in one style (no bars), as render_line draws it, made as one
        string: the general way (a strip of the whole row, cropped, marked) made five
        strips a line. None for anything else (and text wider than one cell a character,
        which the general way crops by cells)."""
        cells = self._cells.get(index)
        if cells is None or index >= self.total or index in self._bars or width <= 0:
            return None
        text = " ".join([_fit(cell, w, column.right)
                         for cell, w, column in zip(cells, widths, columns)])
        if not (text.isascii() and text.isprintable()):
            return None
        style = base
        cursor = index == self.state.cursor
        if cursor:
            style = base + self.get_component_rich_style("rowtable--cursor")
            extend = max(self.virtual_size.width, self.scrollable_content_region.width)
            if len(text) < extend:
                text += " " * (extend - len(text))
        elif index in self._expired:
            style = base + self.get_component_rich_style("rowtable--expired")
        full = len(text)
        shown = text[scroll_x:scroll_x + width]
        if width > 1 and full > scroll_x + width and self._cut_at(scroll_x + width, widths):
            shown = shown[:-1] + "…"
        if width > 1 and scroll_x > 0 and full > scroll_x and self._cut_at(scroll_x, widths):
            shown = "…" + shown[1:]
        if len(shown) == width:
            return Strip([Segment(shown, style)], width)
        pad = Segment(" " * (width - len(shown)), base)
        return Strip([Segment(shown, style), pad] if shown else [pad], width)

    def _cut_at(self, x: int, widths: list[int]) -> bool:
        """Whether the edge between cells x-1 and x falls inside a column."""
        left = 0
        for width in widths:
            if left < x < left + width:
                return True
            left += width + 1
            if left > x:
                return False
        return False

    @staticmethod
    def _mark(strip: Strip, at: int) -> Strip:
        """``strip`` with an ellipsis in cell ``at``, in that cell's style."""
        cell = strip.crop(at, at + 1)
        style = next((seg.style for seg in cell if seg.text), None)
        return Strip([*strip.crop(0, at), Segment("…", style),
                      *strip.crop(at + 1, strip.cell_length)])

    def _header_strip(self, base: Style, columns: list[Column], widths: list[int]) -> Strip:
        st = self.state
        plain = base + self.get_component_rich_style("rowtable--header")
        marked = base + self.get_component_rich_style("rowtable--header-sorted")
        segments = []
        for column, width in zip(columns, widths):
            title = column.title
            style = plain
            if column.name == st.sort:
                title += " ▼" if st.descending else " ▲"
                style = marked
            segments.append(Segment(_fit(title, width, column.right), style))
            segments.append(Segment(" ", plain))
        return Strip(segments[:-1])

    def _row_strip(self, index: int, base: Style, y: int, columns: list[Column],
                   widths: list[int]) -> Strip:
        if index >= self.total:
            if self.total == 0 and y == 1:
                muted = base + self.get_component_rich_style("rowtable--missing")
                return Strip([Segment(f" {self.empty_text}", muted)])
            return Strip([])
        cells = self._cells.get(index)
        if cells is None:
            muted = base + self.get_component_rich_style("rowtable--missing")
            return Strip([Segment(" …", muted)])
        style = base
        cursor = index == self.state.cursor
        if cursor:
            style = base + self.get_component_rich_style("rowtable--cursor")
        elif index in self._expired:
            style = base + self.get_component_rich_style("rowtable--expired")
        bars = self._bars.get(index)
        if bars is None:
            text = " ".join(_fit(cell, width, column.right)
                            for cell, width, column in zip(cells, widths, columns))
            strip = Strip([Segment(text, style)])
        else:
            # On the cursor's row the bar is an underline: a background would hide the cursor.
            bar_style = (style + Style(underline=True) if cursor
                         else style + self.get_component_rich_style("rowtable--bar"))
            segments = []
            for cell, width, column, bar in zip(cells, widths, columns, bars):
                text = _fit(cell, width, column.right)
                if bar:
                    bar = min(bar, width)
                    segments.append(Segment(set_cell_size(text, bar), bar_style))
                    text = text[len(set_cell_size(text, bar)):]
                segments.append(Segment(text + " ", style))
            strip = Strip(segments).crop(0, Strip(segments).cell_length - 1)
        if cursor:
            strip = strip.extend_cell_length(max(self.virtual_size.width,
                                                 self.scrollable_content_region.width), style)
        return strip

    # -- moving around -------------------------------------------------------------------------

    def _move(self, to: int, track: bool = True) -> None:
        st = self.state
        if self.total == 0:
            return
        to = max(0, min(to, self.total - 1))
        st.cursor, st.tracking = to, track
        st.cursor_key = self._keys.get(to) if track else None
        top, rows = int(self.scroll_y), self.page_rows
        if to < top:
            self._set_scroll(None, to)
        elif to >= top + rows:
            self._set_scroll(None, to - rows + 1)
        self.refresh()
        self.post_message(self.NeedRows())

    def action_cursor(self, step: int) -> None:
        self._move(self.state.cursor + step)

    def action_page(self, step: int) -> None:
        rows = self.page_rows
        self._set_scroll(None, int(self.scroll_y) + step * rows)
        self._move(self.state.cursor + step * rows)

    def action_home(self) -> None:
        self._set_scroll(None, 0)
        self._move(0, track=False)

    def action_end(self) -> None:
        self._move(self.total - 1)

    def action_pan(self, step: int) -> None:
        self.scroll_to(x=self.scroll_x + step, animate=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._applying or round(old_value) == round(new_value):
            return
        # Scrolled by wheel or scrollbar: keep the cursor on screen, then fetch the rows.
        st, top, rows = self.state, int(new_value), self.page_rows
        if st.cursor < top or st.cursor >= top + rows:
            st.cursor = min(max(st.cursor, top), top + rows - 1, max(0, self.total - 1))
            st.cursor_key = self._keys.get(st.cursor) if st.tracking else None
        self.post_message(self.NeedRows())

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.NeedRows())

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x + int(self.scroll_x)
            left = 0
            for column, width in zip(self.columns, self._widths()):
                if left <= x < left + width + 1:
                    self.post_message(self.SortClicked(column.name))
                    return
                left += width + 1
            return
        self._move(int(self.scroll_y) + event.y - 1)
