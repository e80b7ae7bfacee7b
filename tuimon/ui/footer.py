"""MonitorFooter: Textual's Footer, without rebuilding its keys when a view switch shows or
hides a few of them.

Textual's Footer removes and mounts every key each time the bindings change (styles
applied to each new key, then a layout): about 60 ms of CPU here, on each switch between
Conversations (which shows Enter and ``w``) and the other views, paid between the key
press and the new page on screen. This one keeps a key it no longer shows, hidden, and
shows it again when it comes back: what it draws is what Footer draws.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # (not exported; Footer composes them)

# (key, key_display, action, description, enabled, tooltip): one key the footer shows
Entry = tuple


class MonitorFooter(Footer):
    """Only for bindings without groups (the monitor has none)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._held: list[Entry] = []  # the keys composed, shown or not, in order
        self._shown: list[Entry] = []
        self._key_widths: dict[tuple, int] = {}  # (entry, compact) -> cells, for _fit

    def _entries(self) -> list[Entry]:
        """What Footer would show now: the first shown binding of each action."""
        return self._first_per_action((binding, enabled, tooltip) for _, binding, enabled,
                                      tooltip in self.screen.active_bindings.values())

    def _every_entry(self) -> list[Entry]:
        """Every key the screen's bindings could show, as shown (enabled), whatever the
        view: composed from the start, so the first switch to a view with keys of its own
        (Conversations: Enter, ``w``) only shows them, rather than compose the footer anew
        (about 80 ms of CPU, a style applied to each new key)."""
        keys: dict[str, tuple] = {}
        for _, bindings in self.screen._modal_binding_chain:
            for key, binding in bindings:
                if key not in keys or (binding.priority and not keys[key].priority):
                    keys[key] = binding
        return self._first_per_action((binding, True, binding.tooltip)
                                      for binding in keys.values())

    def _first_per_action(self, bindings) -> list[Entry]:
        """The entries of (binding, enabled, tooltip): the first shown binding of each
        action, as Footer shows them."""
        entries, actions = [], set()
        for binding, enabled, tooltip in bindings:
            if binding.show and binding.action not in actions:
                actions.add(binding.action)
                entries.append((binding.key, self.app.get_key_display(binding), binding.action,
                                binding.description, enabled, tooltip))
        return entries

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        shown = self._entries()
        held = _merge(self._held or _merge(self._every_entry(), shown), shown)
        self._held, self._shown = held, shown
        for entry in held:
            key, key_display, action, description, enabled, tooltip = entry
            item = FooterKey(key, key_display, description, action, disabled=not enabled,
                             tooltip=tooltip).data_bind(compact=Footer.compact)
            item.display = entry in shown
            yield item
        self.call_after_refresh(self._fit)

    def bindings_changed(self, screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        shown = self._entries()
        if shown == self._shown:
            return
        held = set(self._held)
        if set(shown) <= held and [e for e in self._held if e in shown] == shown:
            for item, entry in zip(self.query_children(FooterKey), self._held):
                item.display = entry in shown
            self._shown = shown
            self._fit()
            return
        self.call_after_refresh(self.recompose)

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Show the keys that fit whole, in order, and hide the rest: a key cut at the
        screen's edge (``u Un``) says nothing (? lists them all)."""
        room = self.size.width
        if room <= 0:
            return
        used = 0
        widths = self._key_widths
        for item, entry in zip(self.query_children(FooterKey), self._held):
            if entry not in self._shown:
                item.display = False
                continue
            # Each key's width measured once (rendering it at each view switch cost more
            # than the rest of the footer's work then): what a key shows does not change.
            width = widths.get((entry, self.compact))
            if width is None:
                width = widths[entry, self.compact] = item.render().cell_len
            used += width
            item.display = used <= room


def _merge(held: list[Entry], shown: list[Entry]) -> list[Entry]:
    """``shown`` in its order, with the keys of ``held`` it lacks kept where they were
    (after the key they followed)."""
    merged = list(shown)
    for i, entry in enumerate(held):
        if entry in merged:
            continue
        before = next((e for e in reversed(held[:i]) if e in merged), None)
        merged.insert(merged.index(before) + 1 if before is not None else 0, entry)
    return merged
