"""The `workbench` TUI: a learner's home, phases, live lab runs, run history.

Startup stays fast by loading nothing heavy before the first paint: the catalog is read
on a worker thread after the home screen is up, and torch is never imported here (labs
run in their own process). Run events reach screens as Textual messages
(`workbench.tui.messages`); named screens come from one registry (`workbench.tui.registry`).

Quitting with runs in flight asks: cancel them (each through its cancel Event; the runner
writes a `cancelled` manifest), or let them finish without the UI (the process stays until
every manifest is written), or stay. A lost SSH connection (SIGHUP) cancels, since nobody
is left to ask; whatever ends the app, no lab process outlives it unrecorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterable
from datetime import date
from functools import partial
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from workbench.tui.live import LiveRun
from workbench.tui.messages import CatalogLoaded, RunFinished, RunStarted
from workbench.tui.registry import SCREENS

QUIT_WAIT_SECONDS = 15.0
INDICATOR_SECONDS = 0.5


class _Finished(Message):
    """Posted from a run's thread (non-blocking) so the UI thread fans out `RunFinished`."""

    def __init__(self, live: LiveRun) -> None:
        super().__init__()
        self.live = live


class WorkbenchApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "Lynx Workbench"

    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("h", "home", "Home"),
        *(Binding(e.key, f"open('{e.name}')", e.title, show=False) for e in SCREENS.values()),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("j", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", "Up", show=False),
    ]

    def __init__(self, catalog: Any = None, *, quick: bool = False, open_target: str | None = None,
                 as_of: date | None = None) -> None:
        self.mono = "NO_COLOR" in os.environ  # read first: Textual pops it when it goes monochrome
        super().__init__()
        self.catalog = catalog
        self.quick = quick
        self.open_target = open_target
        self.as_of = as_of  # `--as-of`: the review and quiz screens' today
        self.live: dict[str, LiveRun] = {}
        self.helpers: set[Any] = set()  # helper processes (workbench.tui.helpers), killed on quit
        self.lab_views: dict[str, list[str]] = {}  # lab screen key -> targets it showed last
        self.current_phase: int | None = None
        self.detached: list[LiveRun] = []  # runs left to finish after the UI quit
        self._conn: Any = None

    # ------------------------------------------------------------------ data

    def db(self) -> Any:
        """One SQLite connection for the UI thread (runs record through their own)."""
        if self._conn is None:
            from workbench.store import connect

            self._conn = connect()
        return self._conn

    def get_default_screen(self) -> Screen:
        from workbench.tui.screens.home import HomeScreen

        return HomeScreen()

    def on_mount(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGHUP, signal.SIGTERM):
                loop.add_signal_handler(sig, self._hang_up)
        except (NotImplementedError, RuntimeError, AttributeError):
            pass  # not on a Unix main thread (tests, Windows): quitting by key still cancels
        self.set_interval(INDICATOR_SECONDS, self._update_indicator)
        if self.catalog is None:
            # After the first paint: YAML parsing holds the GIL and would delay it.
            self.call_after_refresh(self.run_worker, self._load_catalog, thread=True, name="catalog")
        else:
            self.call_later(self._catalog_ready)

    def _load_catalog(self) -> None:
        from workbench.content.loader import load_catalog

        catalog = load_catalog()
        self.call_from_thread(self._set_catalog, catalog)

    def _set_catalog(self, catalog: Any) -> None:
        self.catalog = catalog
        self._catalog_ready()

    def broadcast(self, message_type: type[Message], *args: Any) -> None:
        """Post a fresh message of `message_type` to every screen on the stack."""
        for screen in self.screen_stack:
            if screen.is_mounted:  # an unmounted screen reads the state in its own on_mount
                screen.post_message(message_type(*args))

    def _catalog_ready(self) -> None:
        self.broadcast(CatalogLoaded)
        if self.open_target:
            target, self.open_target = self.open_target, None
            self.open_lab_target(target)

    def open_lab_target(self, target: str) -> None:
        """Open the lab screen for `phase-NN/lab-K` or an experiment id."""
        from workbench.tui import labref
        from workbench.tui.screens.lab import LabScreen

        try:
            if target in self.catalog.experiments:
                ref = labref.experiment(self.catalog, target)
            else:
                key, _, lab = target.partition("/")
                ref = labref.phase_lab(self.catalog, int(key.removeprefix("phase-")), lab)
        except (KeyError, ValueError) as exc:
            self.notify(f"cannot open {target!r}: {exc}", severity="error")
            return
        self.push_screen(LabScreen(ref))

    # ------------------------------------------------------------------ runs

    def start_run(self, request: Any, *, compare_healthy: bool = True) -> LiveRun:
        """Run on a plain thread (not a Textual worker), so a run can outlive the UI when asked to.

        `compare_healthy=False`: a break shown next to its healthy run is not compared (and
        so not preceded by a healthy run) in the runner; the split view compares the two."""
        from workbench.run_progress import previous_wall

        live = LiveRun(request, previous_wall(self.db(), request.target), compare_healthy=compare_healthy)
        self.live[request.target] = live

        def work() -> None:
            live.run()
            with contextlib.suppress(Exception):  # the app may have closed meanwhile
                self.post_message(_Finished(live))

        threading.Thread(target=work, name=f"run {request.target}", daemon=False).start()
        self.broadcast(RunStarted, live)
        self._update_indicator()
        return live

    def on__finished(self, message: _Finished) -> None:
        from workbench.tui.screens.lab import LabScreen

        live = message.live
        top = self.screen
        watching = isinstance(top, LabScreen) and any(p.live is live for p in top.panes)
        if not watching:  # a background event: the pane that shows it is not on screen
            ok = live.status in ("passed", "detected", "skipped")
            self.notify(f"{live.target}: {live.status}", severity="information" if ok else "warning", timeout=4)
        self.broadcast(RunFinished, live)
        self._update_indicator()

    def in_flight(self) -> list[LiveRun]:
        return [live for live in self.live.values() if live.running]

    def _update_indicator(self) -> None:
        """The header's sub-title names the runs in flight, whatever screen is showing."""
        from workbench.run_progress import bar

        active = self.in_flight()
        if not active:
            text = ""
        else:
            first = active[0]
            frac = first.progress.fraction()
            more = f" +{len(active) - 1}" if len(active) > 1 else ""
            # in 10 % steps: each change of the header's text reflows and repaints the whole screen
            text = f"● {first.target}{more} {bar(round(frac, 1), 6) if frac is not None else first.status}"
        if self.sub_title != text:
            self.sub_title = text

    def cancel_all(self, wait: float = 0.0) -> bool:
        """Set every run's cancel flag; optionally block until their manifests are written.

        Helper processes (a roofline measurement) are killed as well.
        """
        from workbench.tui.helpers import kill_helpers

        kill_helpers(self)
        active = self.in_flight()
        for live in active:
            live.cancel.set()
        return all(live.finished.wait(wait) for live in active) if wait else not active

    # ------------------------------------------------------------------ actions

    def _hang_up(self) -> None:
        self.cancel_all()
        self.exit()

    async def action_quit(self) -> None:
        from workbench.tui.helpers import kill_helpers
        from workbench.tui.screens.quit import QuitScreen

        active = self.in_flight()
        if not active:
            await asyncio.to_thread(kill_helpers, self)  # a measurement in a child process: stop it now
            self.exit()
            return

        async def decided(choice: str | None) -> None:
            if choice == "stay" or choice is None:
                return
            await asyncio.to_thread(kill_helpers, self)
            if choice == "detach":
                self.detached = self.in_flight()
            else:
                self.notify(f"cancelling {len(active)} run(s)…", timeout=QUIT_WAIT_SECONDS)
                await asyncio.to_thread(self.cancel_all, QUIT_WAIT_SECONDS)
            self.exit()

        if not isinstance(self.screen, QuitScreen):
            self.push_screen(QuitScreen([live.target for live in active]), decided)

    def action_help(self) -> None:
        from workbench.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_cursor(self, delta: int) -> None:
        """j/k: what down/up do in the focused list, table, tree or scroll view."""
        focused = self.focused
        if focused is None:
            return
        for name in (
            ("action_cursor_down", "action_scroll_down") if delta > 0 else ("action_cursor_up", "action_scroll_up")
        ):
            action = getattr(focused, name, None)
            if action is not None:
                action()
                return

    def action_home(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_open(self, name: str) -> None:
        """Open a registered screen (workbench.tui.registry) unless it is already showing."""
        entry = SCREENS[name]
        if name == "experiments" and self.catalog is None:
            self.notify("content is still loading")
            return
        module, _, cls = entry.path.partition(":")
        if type(self.screen).__name__ == cls:
            return
        if entry.keep:
            # One instance, kept when popped: e.g. a roofline measurement keeps reporting to it.
            if not self.is_screen_installed(name):
                self.install_screen(entry.make(self), name)
            self.push_screen(name)
        else:
            self.push_screen(entry.make(self))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette (ctrl+p): Textual's own, every registered screen, this screen's keys."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Home", "back to the home screen (h)", self.action_home)
        for entry in SCREENS.values():
            yield SystemCommand(entry.title, f"{entry.blurb} ({entry.key})", partial(self.action_open, entry.name))
        yield SystemCommand("Help", "the keys of this screen (?)", self.action_help)
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is self or not binding.description:
                continue
            yield SystemCommand(f"{binding.description}", f"key {self.get_key_display(binding)}",
                                partial(self._run_on, active.node, binding.action))

    async def _run_on(self, node: Any, action: str) -> None:
        await self.run_action(action, node)

    def on_unmount(self) -> None:
        if self._conn is not None:
            self._conn.close()


def run_app(**kwargs: Any) -> None:
    """Entry point for `workbench` / `workbench tui`."""
    app = WorkbenchApp(**kwargs)
    try:
        app.run()
        if app.detached:
            wait_detached(app.detached)
    finally:
        app.cancel_all(wait=QUIT_WAIT_SECONDS)  # whatever ended the app, leave no lab behind


def wait_detached(runs: list[LiveRun]) -> None:
    """After the UI quit with "let them finish": wait for each run's manifest; ctrl-c cancels."""
    names = ", ".join(live.target for live in runs)
    print(f"waiting for {len(runs)} run(s) to finish and write their manifests: {names} (ctrl-c cancels)",
          file=sys.stderr)
    try:
        for live in runs:
            while not live.finished.wait(0.5):
                pass
            print(f"{live.target}: {live.status}", file=sys.stderr)
    except KeyboardInterrupt:
        for live in runs:
            live.cancel.set()
