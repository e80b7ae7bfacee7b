"""The Textual monitor: header, view tabs, one table, filter bar, footer.

The app only draws. Once per ``--interval`` it sends the engine process the current view,
sort, filter and visible window (a :class:`~tuimon.server.protocol.Query`); the answer
(a :class:`~tuimon.server.protocol.Page`) arrives as an :class:`EngineReply` message.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Callable

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding

from tuimon.config import Config
from tuimon.errors import TuimonError
from tuimon.server.drillfilter import DRILLS, NoDrill, drill_filter
from tuimon.server.protocol import (
    ERROR,
    FINISHED,
    PLAYING,
    COUNTERS_VIEW,
    PAIRS_VIEW,
    CheckFilter,
    CountersReset,
    EngineClient,
    FilterChecked,
    HISTORY_KINDS,
    HistoryChart,
    Hold,
    Page,
    PassFd,
    Progress,
    Query,
    Saved,
    Speed,
    Status,
)
from tuimon.text import printable
from tuimon.ui.messages import EngineReply
from tuimon.ui.columns import VIEW_TITLES, column_titled
from tuimon.ui.counters import NO_COUNTERS, CounterKeys
from tuimon.ui.alerts import AlertNotes
from tuimon.ui.quota import QuotaWatch
from tuimon.ui.dissection import DissectionScreen
from tuimon.ui.drilldown import (DRILL_APP_ACTIONS, DRILL_BINDINGS, DRILL_REPLIES,
                                 DRILL_SCREENS, DrillDown)
from tuimon.ui.filterbar import FilterBar
from tuimon.ui.footer import MonitorFooter
from tuimon.ui.header import MonitorHeader
from tuimon.ui.help import HelpScreen
from tuimon.ui.history import HistoryScreen, conversation_title
from tuimon.ui.progress import PlaybackBar
from tuimon.ui.sparkpanel import SparkPanel
from tuimon.ui.stdin import capture_from_stdin
from tuimon.ui.packets import PacketsScreen
from tuimon.ui.quitting import SaveAndQuit, terminal_driver
from tuimon.ui.signals import SignalStop
from tuimon.ui.table import RowTable
from tuimon.ui.tabs import TabBar, view_bindings

# Between the status line's items: a visible mark, not just spaces (copied or read out, the
# spaces at a style's edge went: "Hosts100 rows").
SEP = " · "

# A view switch draws nothing until the new view's page has come (the screen as it was
# meanwhile), at most this long: one frame (the new view empty, then its rows) less.
VIEW_HOLD = 0.25


class MonitorApp(App):
    TITLE = "tuimon"
    ENABLE_COMMAND_PALETTE = False
    freeze_gc = False  # run_app: the start-up's objects frozen once drawn (settle_gc())
    CSS = """
    Screen { layout: vertical; }
    """
    # Priority: the app handles these keys the moment they arrive, in order, so a key typed
    # right after "/" already reaches the filter input. check_action() lets them through as
    # text while the filter is being typed, and to the help screen while it is open.
    BINDINGS = [
        Binding("q", "quit_app", "Quit", tooltip="Quit (saves first when --csv DIR was given)", priority=True),
        Binding("question_mark", "help", "Help", tooltip="This help", priority=True),
        Binding("slash", "filter", "Filter", tooltip="Filter rows (see below)", priority=True),
        Binding("escape", "clear_filter", "Clear filter", tooltip="Clear the filter", show=False),
        *view_bindings(),  # 1-9, 0: the views (tabs.py)
        Binding("p", "pair_ports", "Ports", tooltip="Pairs: a row per protocol and ports / per host pair",
                priority=True),
        Binding("z", "reset_counter", "Zero", tooltip="Counters: read and zero the counter under the cursor",
                priority=True),
        Binding("Z", "reset_counters", "Zero all", tooltip="Counters: read and zero every counter at once",
                priority=True),
        Binding("s", "save", "Save", tooltip="Save the CSV files now (into --csv DIR, else a new folder)", priority=True),
        Binding("space", "pause", "Pause", tooltip="Pause / resume (playback holds; live capture counts on)", priority=True),
        Binding("plus", "speed(1)", "Faster", tooltip="Playback faster: 0.25 0.5 1 2 5 10 100×, max", key_display="+", priority=True),
        Binding("minus", "speed(-1)", "Slower", tooltip="Playback slower", key_display="-", priority=True),
        Binding("less_than_sign", "sort_move(-1)", "Sort left", tooltip="Sort by the column to the left", key_display="<", priority=True),
        Binding("greater_than_sign", "sort_move(1)", "Sort right", tooltip="Sort by the column to the right", key_display=">",
                priority=True),
        Binding("r", "reverse", "Reverse", tooltip="Reverse the sort order", priority=True),
        Binding("f", "freeze", "Freeze", tooltip="Freeze / unfreeze the row order (new rows go last)", priority=True),
        Binding("u", "units", "Units", tooltip="Human units (1.2 Mb/s, 34.5 MB) / raw numbers", priority=True),
        Binding("n", "names", "Names", tooltip="Names for addresses (reverse DNS, looked up in the "
                "background) / addresses, in Hosts and Conversations", show=False,
                priority=True),
        Binding("b", "bars", "Bars", tooltip="Bars behind the rates (as iftop's) on / off", show=False,
                priority=True),
        Binding("ctrl+c", "quit_now", "Quit", tooltip="Quit", show=False, priority=True),
        *DRILL_BINDINGS,
        Binding("enter", "open_conversations", "Conversations",
                tooltip="Hosts, Protocols, Pairs, Ports, Stations: the Conversations view "
                        "filtered to the row (the filter shows; / edits it, Esc clears it)"),
        Binding("enter", "enter_history", "History", show=False,
                tooltip="Interfaces: the history of the interface"),
        Binding("H", "history", "History",
                tooltip="The history of the interface, host, protocol or conversation under "
                        "the cursor (h too; in it h d m y: hour, day, month, year)"),
        Binding("h", "history", "History", show=False,
                tooltip="The history of the interface, host, protocol or conversation under "
                        "the cursor"),
    ]

    def __init__(self, backend: EngineClient, interval: float | None = 1.0,
                 csv_dir: str | None = None, view: str = "hosts",
                 handle_signals: bool = False, counters: bool = False,
                 extra_columns: frozenset = frozenset(), names: bool = False) -> None:
        """``counters``: named counters were given (the Counters view's tab shows);
        ``extra_columns``: optional columns to show (``nat``: --source conntrack);
        ``names``: start with names on (--resolve; n toggles them)."""
        # The real terminal (run_app): SIGTERM / SIGHUP and a terminal that goes away stop
        # the app as q does. Tests keep pytest's handlers and Textual's test driver.
        super().__init__(driver_class=terminal_driver() if handle_signals else None)
        # Its collaborators: saving and quitting (s, q, signals), drill-down (Enter, w).
        self.quitting = SaveAndQuit(backend.send, self.notify, self._exit_with, self.set_timer,
                                    csv_dir)
        self.drill = DrillDown(backend.send, self.notify, self.push_screen, csv_dir)
        self.has_counters = counters  # named counters were given: the Counters view (5)
        self.counters = CounterKeys(backend.send, self.notify)
        self.quota_watch = QuotaWatch(self.notify)  # --quota: 80 % and 100 % notified once
        self.alert_notes = AlertNotes(self.notify)  # --alert: each alert notified once
        self.names = names  # n: addresses shown by name where the resolver has one
        self.signals = SignalStop(self.quitting.signalled) if handle_signals else None
        self.backend = backend
        self.interval = interval
        self.start_view = view
        self.extra_columns = extra_columns
        self.filter_text = ""
        self.paused = False
        self.frozen = False
        self.human = True
        self.pair_ports = False  # the Pairs view: a row per protocol and ports (p)
        self.last_page: Page | None = None
        self._seq = 0
        self._notified_error = ""
        self._checking = 0  # the seq of the filter check awaited
        self._widgets_made = False  # the widgets below exist (check_action may come before)
        self._history_seq = 0
        self._view_hold = None  # the batch_update() a view switch holds, until its page
        self._view_hold_timer = None

    def compose(self) -> ComposeResult:
        # Kept as attributes, not queried: a timer or a reply may still arrive while the
        # app shuts down and the widgets are already gone from the DOM.
        self.header = MonitorHeader(self.backend.label, id="header")
        self.bar = PlaybackBar(id="playback")
        self.tabs = TabBar(self.start_view, counters=self.has_counters, id="tabs")
        self.table = RowTable(self.start_view, id="table")
        self.table.extra_columns = self.extra_columns
        self.sparks = SparkPanel(id="sparks")
        self.sparks.display = self.start_view == "interfaces"
        self.filterbar = FilterBar(id="filterbar")
        self._widgets_made = True
        yield self.header
        yield self.bar
        yield self.tabs
        yield self.table
        yield self.sparks
        yield self.filterbar
        yield MonitorFooter()

    def on_mount(self) -> None:
        if self.signals is not None:
            self.signals.install()
        if self.freeze_gc:
            self.call_after_refresh(settle_gc)
        self.table.focus()
        self._show_status_line()
        self.backend.start(self._deliver)
        if self.interval:
            self.set_interval(self.interval, self._tick, name="refresh")

    def on_unmount(self) -> None:
        if self.signals is not None:
            self.signals.uninstall()

    def _deliver(self, reply) -> None:
        """Called by the backend (from its receiver thread in the real app)."""
        self.post_message(EngineReply(reply))

    # -- talking to the engine ------------------------------------------------------------

    def _tick(self) -> None:
        if self.signals is not None:
            self.signals.check_terminal()
        if not self.paused and self.is_running:
            self.refresh_view(refresh=True)
        elif self.paused and self.is_running:
            self.header.redraw()  # the elapsed clock runs on while the display is held

    def refresh_view(self, refresh: bool = False) -> None:
        """Ask for the page on screen; ``refresh``: the timer's, not a user's action."""
        self._seq += 1
        self.backend.send(Query(**self.table.window(), filter=self.filter_text,
                                freeze=self.frozen, seq=self._seq, refresh=refresh,
                                names=self.names,
                                ports=self.pair_ports and self.table.view == PAIRS_VIEW))

    def on_row_table_need_rows(self, message: RowTable.NeedRows) -> None:
        self.refresh_view()

    def on_engine_reply(self, message: EngineReply) -> None:
        reply = message.reply
        if isinstance(reply, Page):
            self._apply_page(reply)
        elif isinstance(reply, Status):
            if reply.kernel_counters and not self.has_counters:
                self.has_counters = True  # the kernel's named counters: the Counters view
                self.tabs.show_counters()
            self.header.set_status(reply.state, reply.message, reply.source)
            if reply.note:
                self.notify(reply.note, title="Interface", timeout=8, markup=False)
            self._check_error(reply.state, reply.message)
            if not self.paused:
                self.refresh_view()  # e.g. finished: show the final counts now
        elif isinstance(reply, Saved):
            self.quitting.on_saved(reply)
        elif isinstance(reply, CountersReset):
            self.counters.reply(reply)
            self.refresh_view()
        elif isinstance(reply, FilterChecked):
            self._filter_checked(reply)
        elif isinstance(reply, Progress):
            self.bar.set_progress(reply)
        elif isinstance(reply, DRILL_REPLIES):
            self.drill.reply(reply, self.screen_stack)
        elif isinstance(reply, HistoryChart):
            for screen in self.screen_stack:
                if isinstance(screen, HistoryScreen) and screen.seq == reply.seq:
                    screen.show(reply)

    def _apply_page(self, page: Page) -> None:
        if page.seq != self._seq or page.view != self.table.view:
            return  # a newer query is on its way
        try:
            self._apply(page)
        finally:
            self._release_view()

    def _hold_view(self) -> None:
        """Draw nothing until the page of the view switched to is applied (or VIEW_HOLD)."""
        if self._view_hold is None:
            self._view_hold = self.batch_update()
            self._view_hold.__enter__()
            self._view_hold_timer = self.set_timer(VIEW_HOLD, self._release_view)

    def _release_view(self) -> None:
        hold, self._view_hold = self._view_hold, None
        if hold is not None:
            self._view_hold_timer.stop()
            hold.__exit__(None, None, None)
            self.table.refresh()  # (the screen draws what changed meanwhile)

    def _apply(self, page: Page) -> None:
        self.last_page = page
        self.table.empty_text = ("no rows match the filter" if page.filter and page.count
                                 else "no rows yet")
        self.table.apply_page(page)
        if page.view == "interfaces":
            self.sparks.set_page(page)
        self.header.set_page(page)
        if page.quotas:
            self.quota_watch.check(page.quotas, self.human)
        if page.alerts_count:
            self.alert_notes.check(page, self.human)
        self.bar.set_progress(page.progress)
        self._check_error(page.state, page.message)
        self._show_status_line()

    def _check_error(self, state: str, message: str) -> None:
        """Notify once per new message from the capture (it also stays in the header)."""
        if message and message != self._notified_error:
            self._notified_error = message
            self.notify(message, title="Capture error" if state == ERROR else "Capture",
                        severity="error" if state == ERROR else "warning", timeout=10,
                        markup=False)

    def _show_status_line(self) -> None:
        table, page = self.table, self.last_page
        st = table.state
        text = Text()
        text.append(VIEW_TITLES[table.view], "bold")
        if page is not None and page.view == table.view:
            text.append(f"{SEP}{page.total} row{'' if page.total == 1 else 's'}")
            if page.filter:
                text.append(f" of {page.count}")
            t = page.totals
            if table.view == "conversations" and t is not None and t.expired:
                # those that left the table: listed dimmed, as far as --max-flows lets them
                listed = t.expired_listed
                text.append(SEP)
                text.append(f"{listed} expired (dim)" if listed == t.expired else
                            f"{listed} of {t.expired} expired (dim; --max-flows)", "dim")
        text.append(f"{SEP}sort ")
        text.append(f"{column_titled(table.view, st.sort)} {'▼' if st.descending else '▲'}",
                    "bold")
        if self.filter_text:
            text.append(f"{SEP}filter ")
            text.append(self.filter_text, "bold")
        if table.view == PAIRS_VIEW:
            text.append(f"{SEP}by hosts and ports, rates since p" if self.pair_ports
                        else f"{SEP}by hosts")
        if self.frozen:
            text.append(SEP)
            text.append("order frozen", "bold")
        if self.paused:
            text.append(SEP)
            text.append("paused (playback held)" if self.playback else
                        "paused (counting goes on)", "bold reverse")
        if not self.human:
            text.append(f"{SEP}raw numbers")
        if self.names and table.view in ("hosts", "conversations"):
            text.append(f"{SEP}names")
        self.filterbar.show_status(text)

    # -- actions ------------------------------------------------------------------------

    def action_view(self, view: str) -> None:
        if view == COUNTERS_VIEW and not self.has_counters:
            self.notify(NO_COUNTERS, title="Counters", timeout=6, markup=False)
            return
        if view not in self.tabs.views:
            return
        self._hold_view()
        self.tabs.select(view)
        self.table.show_view(view)
        self.sparks.display = view == "interfaces"
        self.refresh_bindings()
        self._show_status_line()
        self.refresh_view()

    def on_tab_bar_selected(self, message: TabBar.Selected) -> None:
        self.action_view(message.view)

    def action_sort_move(self, step: int) -> None:
        self.table.move_sort(step)
        self._show_status_line()
        self.refresh_view()

    def action_reverse(self) -> None:
        st = self.table.state
        self.table.set_sort(st.sort, not st.descending)
        self._show_status_line()
        self.refresh_view()

    def on_row_table_sort_clicked(self, message: RowTable.SortClicked) -> None:
        st = self.table.state
        if message.column == st.sort:
            self.table.set_sort(st.sort, not st.descending)
        else:
            self.table.set_sort(message.column)
        self._show_status_line()
        self.refresh_view()

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        self._show_status_line()
        self.refresh_view()

    def action_units(self) -> None:
        self.human = not self.human
        self.table.set_human(self.human)
        self.sparks.set_human(self.human)
        self.counters.human = self.human
        self.header.human = self.bar.human = self.human
        self.bar.refresh()
        self.header.redraw()
        self._show_status_line()

    @property
    def playback(self) -> bool:
        """A recorded capture that is still playing (what space and +/- act on)."""
        progress = self.bar.progress
        if progress is not None:
            return not progress.finished
        return self.header.state == PLAYING

    def action_speed(self, step: int) -> None:
        if self.playback:
            self.backend.send(Speed(step))
        elif self.header.state == FINISHED:
            self.notify("The playback has finished.", timeout=3)
        else:
            self.notify("Speed applies to playback (-r FILE); a live capture runs in real time.",
                        timeout=4)

    def action_pause(self) -> None:
        playback = self.playback
        if playback:  # the recorded pace stops too, and resumes where it was
            self.backend.send(Hold(not self.paused))
        self.paused = not self.paused
        self.header.paused = self.paused
        self.header.redraw()
        self._show_status_line()
        if not self.paused or playback:  # a held playback: show where it stopped
            self.refresh_view()

    def action_filter(self) -> None:
        self.filterbar.open(self.filter_text)

    def on_filter_bar_applied(self, message: FilterBar.Applied) -> None:
        self._seq += 1  # the engine checks it (it knows the names); FilterChecked answers
        self._checking = self._seq
        self.backend.send(CheckFilter(message.text, self._seq))

    def _filter_checked(self, reply: FilterChecked) -> None:
        if reply.seq != self._checking:
            return  # another filter was applied since
        if reply.error:
            self.filterbar.show_error(reply.error)  # the previous filter stays in force
            return
        self._set_filter(reply.text.strip())

    def on_filter_bar_cleared(self, message: FilterBar.Cleared) -> None:
        self._set_filter("")

    def action_clear_filter(self) -> None:
        if self.filter_text or self.filterbar.editing:
            self._set_filter("")

    def _set_filter(self, text: str) -> None:
        self.filter_text = text
        self.filterbar.close()
        self.table.focus()
        self._show_status_line()
        self.refresh_view()

    def action_save(self) -> None:
        self.quitting.save()

    # -- saving and quitting (SaveAndQuit) -------------------------------------------------

    @property
    def csv_dir(self) -> str | None:
        """``--csv DIR``: where saves (and ``w``'s pcapng files) go."""
        return self.quitting.csv_dir

    @csv_dir.setter
    def csv_dir(self, folder: str | None) -> None:
        self.quitting.csv_dir = self.drill.csv_dir = folder

    @property
    def saved(self) -> list[Saved]:
        """Every save's answer, in order."""
        return self.quitting.saved

    @property
    def exit_error(self) -> str | None:
        """Why the app ended with status 1 (a save that failed or took too long), if so."""
        return self.quitting.exit_error

    def _exit_with(self, return_code: int) -> None:
        self.exit(return_code=return_code)

    def action_quit_app(self) -> None:
        self.quitting.quit()

    def action_quit_now(self) -> None:
        self.quitting.quit()

    def terminal_gone(self) -> None:
        """The driver could not write to or read from the terminal: a hang-up."""
        if self.signals is not None:
            self.signals.check_terminal()
            if not self.signals.hung_up:  # the probe saw nothing, the driver did
                self.signals.mark_hung_up()
                self.quitting.signalled(signal.SIGHUP)

    # -- drill-down (DrillDown) -------------------------------------------------------------

    def action_drill(self) -> None:
        if isinstance(self.screen, DRILL_SCREENS) or self.table.view != "conversations":
            return
        key, row = self.table.cursor_row()
        if key is not None:
            self.drill.open_conversation(key, row)

    def open_packet(self, packets: PacketsScreen, index: int) -> None:
        """Enter on a packet of ``packets`` (the packet list calls this)."""
        self.drill.open_packet(packets, index)

    def action_reset_counter(self) -> None:
        """z: read and zero the counter under the cursor (Counters view)."""
        key, _ = self.table.cursor_row()
        if key is not None:
            self.counters.reset(key)

    def action_reset_counters(self) -> None:
        """Z: read and zero every counter at once (Counters view)."""
        self.counters.reset(None)

    def action_names(self) -> None:
        """n: names (reverse DNS) for addresses on or off, as iftop's n."""
        self.names = not self.names
        self._show_status_line()
        self.refresh_view()

    def action_pair_ports(self) -> None:
        """p: the Pairs view by host pair, or by protocol and ports too (iftop's p)."""
        self.pair_ports = not self.pair_ports
        self.table.state.tracking = False  # the row keys change with the grain
        self._show_status_line()
        self.refresh_view()

    def action_bars(self) -> None:
        self.table.set_bars(not self.table.bars)

    def action_open_conversations(self) -> None:
        """Enter on a host, protocol, pair, port or station: the Conversations view,
        filtered to what is behind the row (tuimon.server.drillfilter); the filter is
        checked by the engine like a typed one and shows in the status line."""
        view = self.table.view
        key, row = self.table.cursor_row()
        try:
            text = drill_filter(view, row, key)
        except NoDrill as err:
            self.notify(str(err), title="Conversations", timeout=5, markup=False)
            return
        state = self.table.states["conversations"]
        state.tracking, state.cursor, state.scroll_y = False, 0, 0  # from the top
        self.action_view("conversations")
        self._seq += 1
        self._checking = self._seq
        self.backend.send(CheckFilter(text, self._seq))

    def action_enter_history(self) -> None:
        """Enter on an interface: its history (conversations are not kept per interface)."""
        self.action_history()

    def action_history(self) -> None:
        """The history of the row under the cursor (H, h; Enter on an interface)."""
        if isinstance(self.screen, (*DRILL_SCREENS, HistoryScreen)):
            return
        kind = HISTORY_KINDS.get(self.table.view)
        if kind is None:
            self.notify("History is kept per interface, host, protocol and conversation: "
                        "H on a row of views 1-4.", timeout=4, markup=False)
            return
        row_key, row = self.table.cursor_row()
        if row is None:
            return
        key = {"interface": lambda: row.interface, "host": lambda: row.address,
               "protocol": lambda: (row.layer, row.protocol),
               "conversation": lambda: row_key}[kind]()
        title = conversation_title(row) if kind == "conversation" else None
        self.push_screen(HistoryScreen(kind, key, self.backend.send, self._next_history_seq,
                                       self.human, title))

    def _next_history_seq(self) -> int:
        self._history_seq += 1
        return self._history_seq

    def action_write_pcap(self) -> None:
        if isinstance(self.screen, DRILL_SCREENS):
            self.drill.write_conversation(self.screen.key)
            return
        if self.table.view != "conversations":
            return
        key, _ = self.table.cursor_row()
        if key is not None:
            self.drill.write_conversation(key)

    def write_conversation(self, key: tuple) -> None:
        """``w`` on a packet list (the packet list calls this)."""
        self.drill.write_conversation(key)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen([*self.BINDINGS, *RowTable.BINDINGS,
                                         PacketsScreen.BINDINGS[0], DissectionScreen.BINDINGS[0],
                                         *HistoryScreen.BINDINGS]))

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "quit_now":
            return True
        if isinstance(self.screen, HelpScreen):
            return False  # its own keys close it
        if isinstance(self.screen, (*DRILL_SCREENS, HistoryScreen)):
            return action in DRILL_APP_ACTIONS  # the table's keys are not for these screens
        if action in ("drill", "write_pcap") and (not self._widgets_made or
                                                  self.table.view != "conversations"):
            return False  # (and not in the footer)
        if action in ("reset_counter", "reset_counters") and (
                not self._widgets_made or self.table.view != COUNTERS_VIEW):
            return False
        if action == "open_conversations" and (not self._widgets_made or
                                               self.table.view not in DRILLS):
            return False
        if action == "enter_history" and (not self._widgets_made or
                                          self.table.view != "interfaces"):
            return False
        if action == "pair_ports" and (not self._widgets_made or self.table.view != PAIRS_VIEW):
            return False
        # While the filter is being typed, keys are text, not commands.
        if self._widgets_made and self.filterbar.editing and self.focused is not None and \
                self.focused.id == "filter-input" and action != "clear_filter":
            return False
        return True


NO_UI_HINT = "use --no-ui for a report (tuimon ... --no-ui > FILE)"


def settle_gc() -> None:
    """Once the first screen is drawn: what the start-up made (Textual, the widgets, the
    styles: about 50,000 objects) leaves the garbage collector's view. Python's full
    collections walked them all, 20-40 ms each, a few times a minute, and a key pressed
    then waited them out; they take 3-4 ms after this. (The real app only: a test run
    holds many apps in one process, and frozen objects are never freed.)"""
    gc.collect()
    gc.freeze()


def need_terminal(hint: str = NO_UI_HINT) -> None:
    """The monitor draws on a terminal: with standard output or error not one (a pipe, a
    file, cron), its escape codes would land there. One line, exit 2, before anything
    starts; ``--no-ui`` is the report for a pipe. (Not under another driver: textual-serve
    runs ``tuimon attach`` with its web driver on pipes.)"""
    if os.environ.get("TEXTUAL_DRIVER"):
        return
    for fd, name in ((1, "output"), (2, "error")):
        if not os.isatty(fd):
            raise TuimonError(f"the monitor needs a terminal, and standard {name} is not "
                              f"one: {hint}")


def run_app(config: Config, connect: Callable[[Config, PassFd | None], EngineClient],
            hint: str = NO_UI_HINT) -> int:
    """``tuimon [IFACE ...] | -r FILE`` with the interface. ``connect`` starts the engine
    (:class:`tuimon.server.client.ProcessClient`, from :mod:`tuimon.cli`) and returns its
    client once the source is open, or not. Returns the exit code."""
    capture_fd = None
    if config.read == "-":  # the capture on fd 0; the keys from /dev/tty
        capture_fd = capture_from_stdin()
    try:
        need_terminal(hint)
    except TuimonError:
        if capture_fd is not None:
            os.close(capture_fd)
        raise
    client = None
    try:
        try:
            client = connect(config, PassFd(capture_fd) if capture_fd is not None else None)
        finally:
            if capture_fd is not None:  # the engine process has its own copy now
                os.close(capture_fd)
        status = client.first_status
        if status.state == ERROR and not status.opened:
            raise TuimonError(status.message)
        app = MonitorApp(client, interval=max(0.1, config.interval), csv_dir=config.csv,
                         handle_signals=True, counters=bool(config.counters),
                         extra_columns=frozenset({"nat"} if config.conntrack else ()) |
                         frozenset({"quota_used"} if config.quotas else ()),
                         names=config.resolve)
        app.freeze_gc = True
        app.run()
    finally:
        if client is not None:
            client.stop()
    if app.exit_error:
        try:  # the terminal may be gone (hung up)
            print(f"tuimon: {printable(app.exit_error, 1000)}", file=sys.stderr, flush=True)
        except OSError:
            pass
    return app.return_code or 0

