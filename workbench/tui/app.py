"""The `workbench` TUI: a learner's home, phases, live lab runs, run history.

Startup stays fast by loading nothing heavy before the first paint: the catalog is read
on a worker thread after the home screen is up, and torch is never imported here (labs
run in their own process). Quitting — by key, or by a lost SSH connection (SIGHUP) —
cancels every run in flight through its cancel Event and waits for the runner to write
its manifest, so no lab process outlives the app. We cancel rather than detach: a
run nobody watches and nothing records would be the orphan we promise not to leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from workbench.tui.live import LiveRun

QUIT_WAIT_SECONDS = 15.0


class WorkbenchApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "Lynx Workbench"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("h", "home", "Home"),
        Binding("r", "runs", "Runs"),
        Binding("e", "experiments", "Experiments", show=False),
        Binding("o", "roofline", "Roofline", show=False),  # shown on the home screen
        Binding("z", "slot('quiz')", "Quiz", show=False),  # shown on home and phase screens
        Binding("v", "slot('review')", "Review", show=False),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, catalog: Any = None, *, quick: bool = False, open_target: str | None = None) -> None:
        self.mono = "NO_COLOR" in os.environ  # read first: Textual pops it when it goes monochrome
        super().__init__()
        self.catalog = catalog
        self.quick = quick
        self.open_target = open_target
        self.live: dict[str, LiveRun] = {}
        self.helpers: set[Any] = set()  # helper processes (workbench.tui.helpers), killed on quit
        self.lab_views: dict[str, list[str]] = {}  # lab screen key -> targets it showed last
        self.current_phase: int | None = None
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

    def _catalog_ready(self) -> None:
        for screen in self.screen_stack:
            reload = getattr(screen, "reload", None)
            if reload is not None and screen.is_mounted:  # an unmounted screen loads in its on_mount
                reload()
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

    def start_run(self, request: Any) -> LiveRun:
        live = LiveRun(request)
        self.live[request.target] = live

        def work() -> None:
            live.run()
            with contextlib.suppress(RuntimeError):  # the app may have closed meanwhile
                self.call_from_thread(self._run_finished, live)

        self.run_worker(work, thread=True, group="labs", name=request.target, exit_on_error=False)
        return live

    def _run_finished(self, live: LiveRun) -> None:
        severity = "information" if live.status in ("passed", "skipped") else "warning"
        self.notify(f"{live.target}: {live.status}", severity=severity, timeout=4)
        for screen in self.screen_stack:
            on_run = getattr(screen, "on_run_finished", None)
            if on_run is not None:
                on_run(live)

    def in_flight(self) -> list[LiveRun]:
        return [live for live in self.live.values() if live.running]

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

        await asyncio.to_thread(kill_helpers, self)  # a measurement in a child process: stop it now
        active = self.in_flight()
        if active:
            self.notify(f"cancelling {len(active)} run(s)…", timeout=QUIT_WAIT_SECONDS)
            await asyncio.to_thread(self.cancel_all, QUIT_WAIT_SECONDS)
        self.exit()

    def action_home(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_runs(self) -> None:
        from workbench.tui.screens.runs import RunsScreen

        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen())

    def action_experiments(self) -> None:
        from workbench.tui.screens.experiments import ExperimentsScreen

        if self.catalog is not None and not isinstance(self.screen, ExperimentsScreen):
            self.push_screen(ExperimentsScreen())

    def action_roofline(self) -> None:
        from workbench.tui.screens.roofline import RooflineScreen

        if not isinstance(self.screen, RooflineScreen):
            # One instance, kept when popped: a measurement in flight keeps running and reporting to it.
            if not self.is_screen_installed("roofline"):
                self.install_screen(RooflineScreen(), "roofline")
            self.push_screen("roofline")

    def action_slot(self, name: str) -> None:
        from workbench.tui.slots import make_slot_screen

        self.push_screen(make_slot_screen(name, self, self.current_phase))

    def on_unmount(self) -> None:
        if self._conn is not None:
            self._conn.close()


def run_app(**kwargs: Any) -> None:
    """Entry point for `workbench` / `workbench tui`."""
    app = WorkbenchApp(**kwargs)
    try:
        app.run()
    finally:
        app.cancel_all(wait=QUIT_WAIT_SECONDS)  # whatever ended the app, leave no lab behind
