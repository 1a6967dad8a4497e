"""``%%track`` (every execution of a cell is a run) and ``%nbtrack`` (status, runs, auto, history).

Load with ``%load_ext nbtrack``. Options are traitlets of :class:`TrackMagics`, so
``%config TrackMagics.show_summary = False`` works. ``%unload_ext nbtrack`` removes
every hook, magic and comm target installed here.

How a ``%%track`` cell runs (IPython's ``%%capture`` is the template): parse the
line (a mistake is one ``UsageError`` line and the cell does not run), open a run,
run the body with ``shell.run_cell(body, store_history=False)`` so the user sees
their output and any traceback exactly as without the magic, close the run, return
a :class:`nbtrack.display.RunSummary`. When the body failed, the enclosing cell is
marked failed too (``post_run_cell`` sets its ``error_in_exec``), so "Run All" and
nbclient stop there as they would without the magic, and the traceback is shown once.

Example:
    >>> ip = get_ipython()  # doctest: +SKIP
    >>> ip.run_cell("%load_ext nbtrack")  # doctest: +SKIP
    >>> ip.run_cell("%%track demo -t developer=me\\nalpha = 1")  # doctest: +SKIP
"""

from __future__ import annotations

import ast
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Int, Unicode

from . import validation
from .tracking import fluent
from .capture.cell import CellAnalysis, analyze_cell
from .capture.recorder import CellRecording, TrackOptions, deferred_interrupts
from .capture.session import TrackingSession
from .display import RunSummary
from .errors import InvalidInput

# Cells auto-tracking leaves alone: nbtrack's own commands and extension/config lines.
_NOT_AUTO = ("%%track", "%nbtrack", "%load_ext", "%unload_ext", "%reload_ext", "%config")


def _unquote(text: str | None) -> str | None:
    """IPython's magic-line parser keeps quotes (``-e 'my exp'`` gives ``'my exp'``): drop them."""
    if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _key_value(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = (_unquote(text) or "").partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{flag} takes KEY=VALUE; got {text!r} (for example {flag} alpha=0.5)")
    return key.strip(), _unquote(value) or ""


def _literal_or_text(value: str) -> Any:
    """``-p alpha=0.5`` binds the float 0.5; ``-p model=nb`` binds the string 'nb'."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value


def _names(text: str | None, flag: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    bad = [n for n in names if not n.isidentifier()]
    if bad:
        raise UsageError(f"{flag} takes variable names separated by commas; {bad[0]!r} is not one")
    return names


@magics_class
class TrackMagics(Magics):
    """``%%track`` and ``%nbtrack``; configure with ``%config TrackMagics.<option> = ...``."""

    auto = Bool(False, help="Track every cell as a run, without %%track (%nbtrack auto on|off).").tag(config=True)
    params = Unicode("all", help="Default for --params: all, none, or names separated by commas.").tag(config=True)
    snapshot = Bool(True, help="Store a notebook snapshot with each run.").tag(config=True)
    fingerprint_inputs = Bool(True, help="Fingerprint DataFrames/arrays the cell reads.").tag(config=True)
    fingerprint_full_max_bytes = Int(1 << 20, help="Hash data up to this size fully; sample larger data.").tag(config=True)
    capture_git = Bool(True, help="Record git commit, branch, dirty state and diff.").tag(config=True)
    capture_packages = Bool(True, help="Record versions of imported packages.").tag(config=True)
    show_summary = Bool(True, help="Show the run summary after a tracked cell.").tag(config=True)

    shell: Any  # an InteractiveShell once registered (Magics types it as optional)

    def __init__(self, shell: Any, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self.session = TrackingSession(self.fingerprint_full_max_bytes)
        self._pending: list[tuple[Any, CellRecording | None]] = []  # (ExecutionInfo, auto recording)

    # --- %%track ------------------------------------------------------------------------

    @magic_arguments()
    @argument("name", nargs="?", default=None, help="Run name; also links re-runs when no cell id is known.")
    @argument("-e", "--experiment", default=None, help="Experiment of this run (created if new).")
    @argument("-t", "--tag", action="append", default=[], metavar="KEY=VALUE", help="A tag (repeatable).")
    @argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
              help="A param, also bound as a variable before the cell runs (repeatable). "
                   "A cell that assigns the same name a literal is refused.")
    @argument("--params", default=None, metavar="all|none|a,b",
              help="Which top-level literal assignments become params (default: all).")
    @argument("--metrics", default=None, metavar="a,b",
              help="Variables logged as metrics when the cell finishes.")
    @argument("--no-snapshot", action="store_true", help="Do not store a notebook snapshot.")
    @argument("--system", action="store_true",
              help="Sample CPU, memory, disk, network and GPU while the cell runs (system/* metrics).")
    @argument("-q", "--quiet", action="store_true", help="Do not show the run summary.")
    @cell_magic
    def track(self, line: str, cell: str) -> RunSummary | None:
        """Run the cell as an nbtrack run: params, metrics, data, code, snapshot, lineage.

        Example::

            %%track bow-nb -e customer-sentiment -t developer=me --metrics acc
            alpha = 1
            acc = train(alpha)
        """
        args = parse_argstring(self.track, line)
        args.name, args.experiment = _unquote(args.name), _unquote(args.experiment)
        analysis = analyze_cell(self._transformed(cell))
        options = self._options(args, analysis)
        enclosing = self._pending[-1][0] if self._pending else None  # the cell this magic runs in
        raw = getattr(enclosing, "raw_cell", None) or ""
        if not raw.lstrip().startswith("%%track"):  # called as run_cell_magic(...) from code
            raw = f"%%track {line}".rstrip() + "\n" + cell
        recording = CellRecording(self.session, self.shell, raw, cell, options, analysis,
                                  getattr(enclosing, "cell_id", None))
        tracking = self._begin(recording)
        self.shell.user_ns.update(options.bound_params)
        raised: BaseException | None = None
        error: BaseException | None = None
        displayhook = self.shell.displayhook
        outer_result = getattr(displayhook, "exec_result", None)
        try:
            with recording.copying_outputs(tracking):
                result = self.shell.run_cell(cell, store_history=False)
            error = result.error_before_exec or result.error_in_exec
        except BaseException as exc:  # a shell that re-raises, or Ctrl-C outside the user's code
            raised = error = exc
        finally:
            # The nested run_cell cleared it; the summary must land in the enclosing cell's result.
            displayhook.exec_result = outer_result
        with deferred_interrupts():
            summary = recording.finish(error) if tracking else None
        if raised is not None:
            raise raised
        if error is not None and enclosing is not None:
            self.session.pending_error = (enclosing, error)  # its cell fails too: _post_run_cell
        return summary if self.show_summary and not args.quiet else None

    @staticmethod
    def _begin(recording: CellRecording) -> bool:
        """Open the run; an interrupt held back meanwhile ends it KILLED before it propagates."""
        try:
            with deferred_interrupts():
                return recording.begin()
        except KeyboardInterrupt as exc:
            with deferred_interrupts():
                recording.finish(exc)
            raise

    def _transformed(self, cell: str) -> str:
        try:
            return self.shell.transform_cell(cell)
        except Exception:  # the body's own syntax error shows when it runs
            return cell

    def _options(self, args: Any, analysis: CellAnalysis) -> TrackOptions:
        """Turn parsed arguments into options, refusing every mistake before anything is recorded."""
        try:
            tags = validation.checked_tags(dict(_key_value(t, "-t") for t in args.tag))
            bound = {}
            for text in args.param:
                key, value = _key_value(text, "-p")
                validation.check_key(key, "param")
                if not key.isidentifier():
                    raise UsageError(f"-p {key}=...: {key!r} is not a Python name, so it cannot be bound")
                bound[key] = _literal_or_text(value)
                validation.param_value(key, bound[key])
            if args.name is not None:
                validation.tag_value("run name", args.name)
        except InvalidInput as exc:
            raise UsageError(str(exc)) from None
        for key in bound:
            if key in analysis.params:
                raise UsageError(
                    f"-p {key}=... is overwritten by `{key} = ...` on line {analysis.param_lines[key]} "
                    "of the cell; remove one of them")
        mode_text = args.params if args.params is not None else self.params
        mode: str | tuple[str, ...] = mode_text if mode_text in ("all", "none") else _names(mode_text, "--params")
        if args.experiment is not None and not args.experiment.strip():
            raise UsageError("-e needs an experiment name")
        return TrackOptions(
            run_name=args.name, experiment=args.experiment, tags=tags, bound_params=bound, params=mode,
            metrics=_names(args.metrics, "--metrics"), snapshot=self.snapshot and not args.no_snapshot,
            fingerprint=self.fingerprint_inputs, git=self.capture_git, packages=self.capture_packages,
            system_metrics=True if args.system else None,
        )

    # --- %nbtrack ------------------------------------------------------------------------

    @magic_arguments()
    @argument("command", choices=["status", "runs", "auto", "history"],
              help="status: what nbtrack is doing; runs: recent runs; auto on|off: track every "
                   "cell; history [RUN]: a run's lineage (default: the last tracked cell)")
    @argument("value", nargs="?", default=None, help="on|off for auto; a run id or name for history")
    @argument("-n", "--max", type=int, default=20, help="How many runs to list (runs, history).")
    @argument("-e", "--experiment", default=None, help="Only runs of this experiment (runs).")
    @line_magic
    def nbtrack(self, line: str) -> Any:
        """``%nbtrack status | runs [-n N] [-e EXP] | auto on|off | history [RUN]``.

        Example::

            %nbtrack runs -n 5
        """
        args = parse_argstring(self.nbtrack, line)
        from .capture import commands

        self.session.worker.drain(timeout=10)
        try:
            if args.command == "auto":
                if args.value not in ("on", "off"):
                    raise UsageError("%nbtrack auto takes on or off")
                self.auto = args.value == "on"
                print(f"nbtrack: auto-tracking {'on: every cell is a run' if self.auto else 'off'}")
                return None
            if args.command == "status":
                print(commands.status_text(self))
                return None
            if args.command == "runs":
                return commands.recent_runs(args.max, args.experiment)
            return commands.history(self.session, args.value, args.max)
        except InvalidInput as exc:
            raise UsageError(str(exc)) from None

    # --- events ----------------------------------------------------------------------------

    def _pre_run_cell(self, info: Any) -> None:
        recording = None
        if info.store_history:
            from .capture.context import request_cell_id, running_execution_count

            cell_id = request_cell_id(self.shell, getattr(info, "cell_id", None))
            if cell_id:
                count = running_execution_count(self.shell, before_inputs_stored=True)
                self.session.cell_ids[count] = cell_id
            if self.auto and fluent.active_run() is None and self._auto_tracks(info.raw_cell):
                recording = self._auto_recording(info)
        self._pending.append((info, recording))

    def _auto_tracks(self, raw_cell: str) -> bool:
        stripped = raw_cell.lstrip()
        return bool(stripped) and not stripped.startswith(_NOT_AUTO)

    def _auto_recording(self, info: Any) -> CellRecording | None:
        transformed = self._transformed(info.raw_cell)
        analysis = analyze_cell(transformed)
        options = TrackOptions(params=self.params if self.params in ("all", "none") else _names(self.params, "params"),
                               snapshot=self.snapshot, fingerprint=self.fingerprint_inputs,
                               git=self.capture_git, packages=self.capture_packages, source="cell-auto")
        recording = CellRecording(self.session, self.shell, info.raw_cell, info.raw_cell, options,
                                  analysis, getattr(info, "cell_id", None))
        return recording if self._begin(recording) else None

    def _post_run_cell(self, result: Any) -> None:
        recording = None
        if self._pending and (result is None or self._pending[-1][0] is result.info):
            # None: ipykernel cancelled an async cell; its pre_run_cell entry is the last one.
            _, recording = self._pending.pop()
        pending = self.session.pending_error
        if pending is not None and result is not None and pending[0] is result.info:
            self.session.pending_error = None
            if result.success:
                result.error_in_exec = pending[1]  # the %%track body failed: so does its cell
        if recording is not None:
            error = (KeyboardInterrupt("the cell was cancelled") if result is None
                     else result.error_before_exec or result.error_in_exec)
            with deferred_interrupts():
                summary = recording.finish(error)
            if summary is not None and self.show_summary:
                from IPython.display import display

                display(summary)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, the cell events and the frontend comm target."""
    if any(isinstance(m, TrackMagics) for m in ipython.configurables):
        return  # loaded already: %load_ext twice must not track each cell twice
    magics = TrackMagics(ipython, parent=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:  # so %config TrackMagics.<option> finds it
        ipython.configurables.append(magics)
    ipython.events.register("pre_run_cell", magics._pre_run_cell)
    ipython.events.register("post_run_cell", magics._post_run_cell)
    if magics.capture_packages:
        magics.session.warm_up()
    try:
        from .capture import frontend

        frontend.register_comm_target(ipython)
    except ImportError:  # the frontend channel ships separately
        pass


def unload_ipython_extension(ipython: Any) -> None:
    """Remove everything :func:`load_ipython_extension` installed."""
    found = {id(m): m for m in ipython.configurables if isinstance(m, TrackMagics)}
    for magics in found.values():
        ipython.events.unregister("pre_run_cell", magics._pre_run_cell)
        ipython.events.unregister("post_run_cell", magics._post_run_cell)
        ipython.configurables[:] = [m for m in ipython.configurables if m is not magics]
        for kind, name in (("cell", "track"), ("line", "nbtrack")):
            ipython.magics_manager.magics[kind].pop(name, None)
        ipython.magics_manager.registry.pop(type(magics).__name__, None)
        magics.session.worker.drain(timeout=10)
    try:
        from .capture import frontend

        frontend.unregister_comm_target(ipython)
    except ImportError:
        pass
