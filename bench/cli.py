"""The ``bench`` command. Only this module prints."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bench._version import __version__
from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.pipeline import ScoredRun
    from bench.runner import Progress
    from bench.scoring.options import StatisticsOptions

__all__ = ["build_parser", "flag_table", "main"]

EXIT_ERROR = 2


def _positive_int(text: str, what: str = "a positive integer") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def _batch_size(text: str) -> int | str:
    """``--batch-size``: a positive integer, or ``auto`` (any case)."""
    if text.strip().lower() == "auto":
        return "auto"
    return _positive_int(text, "a positive integer or auto")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def _lower(text: str) -> str:
    """Choices are case-insensitive: ``--dtype BFloat16`` is ``bfloat16``."""
    return text.lower()


@contextlib.contextmanager
def _progress_bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit="ex", leave=False, file=sys.stderr) as bar:
        yield bar.update


LOG_EVERY_S = 30.0
"""Seconds between two progress lines of one step when stderr is not a terminal (a log, CI)."""


def progress_lines(stream: TextIO, every: float = LOG_EVERY_S) -> Progress:
    """A progress callback that writes lines, not bars: ``progress: DESCRIPTION: done/total
    (p%)`` when a step starts, at most every ``every`` seconds while it runs, and when it
    ends, with the step's elapsed seconds."""

    @contextlib.contextmanager
    def lines(total: int, description: str) -> Iterator[Callable[[int], None]]:
        started = last = time.monotonic()
        done = 0

        def write(note: str = "") -> None:
            share = f" ({100 * done / total:.0f}%)" if total else ""
            print(f"progress: {description}: {done}/{total}{share}{note}", file=stream, flush=True)

        def advance(n: int) -> None:
            nonlocal done, last
            done += n
            if time.monotonic() - last >= every and done < total:
                last = time.monotonic()
                write()

        write()
        yield advance
        write(f" done in {time.monotonic() - started:.1f} s")

    return lines


def _progress(args: argparse.Namespace) -> Progress | None:
    """Bars on a terminal, periodic lines when stderr is a log or CI, nothing with ``--quiet``
    (or on a torchrun rank other than 0)."""
    if getattr(args, "quiet", False) or _rank():
        return None
    return _progress_bar if sys.stderr.isatty() else progress_lines(sys.stderr)


WARNING_EXAMPLES = 3
"""Warnings of one kind named in full on the warnings line; the rest are counted."""


def _report_warnings(caught: Sequence[warnings.WarningMessage], quiet: bool) -> None:
    """One line per warning category: its count, the first message and where the next few
    occurred (the part of each message before its first ': '); nothing when ``quiet``."""
    if quiet:
        return
    by_kind: dict[str, list[str]] = {}
    for item in caught:
        by_kind.setdefault(item.category.__name__, []).append(str(item.message))
    for kind, messages in by_kind.items():
        unique = list(dict.fromkeys(messages))
        more = [m.split(": ", 1)[0] for m in unique[1:WARNING_EXAMPLES]]
        rest = len(unique) - 1 - len(more)
        also = f" Also: {'; '.join(more)}" + (f" and {rest} more." if rest else ".") if more else ""
        print(f"warning: {len(messages)} × {kind}: {unique[0]}{also}", file=sys.stderr)


# --- bench list --------------------------------------------------------------------------
LIST_KINDS: tuple[str, ...] = ("suites", "models", "metrics", "protocols")
"""What ``bench list`` lists; singular and any case are accepted (``bench list Metric``)."""


def _list_kind(text: str) -> str:
    plural = text.lower() if text.lower().endswith("s") else f"{text.lower()}s"
    if plural not in LIST_KINDS:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(LIST_KINDS)} (singular or plural, any case), "
                                         f"got {text!r}")
    return plural


def _cmd_list(args: argparse.Namespace) -> int:
    from bench.adapters import MODELS
    from bench.registry import Registry, load_plugins
    from bench.scoring.metrics import METRICS
    from bench.suites import PROTOCOLS, SUITES

    load_plugins()
    sections: dict[str, Registry[Any]] = {"suites": SUITES, "models": MODELS, "metrics": METRICS, "protocols": PROTOCOLS}
    chosen = [args.what] if args.what else list(sections)
    for name in chosen:
        registry = sections[name]
        print(f"{name}:")
        width = max((len(e.name) for e in registry.entries()), default=0)
        for entry in registry.entries():
            aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
            print(f"  {entry.name.ljust(width)}  {entry.description}{aliases}")
        if name == "models":
            from bench.adapters import MODEL_GROUPS

            print("model groups:")
            for group, members in MODEL_GROUPS.items():
                print(f"  {group.ljust(width)}  {', '.join(members)}")
    return 0


# --- bench run ---------------------------------------------------------------------------
def _print_summary(scored: ScoredRun) -> None:
    from bench.report import format_table, summary_tables
    from bench.report.summary import chance_notes, interval_methods, legend

    tables = summary_tables(scored.metrics, scored.gaps, scored.infos)
    for suite, table in tables.items():
        print(f"\n{suite}\n{format_table(table, width=_table_width())}")
    import textwrap

    for note in chance_notes(scored.gaps):
        print(textwrap.fill(note, width=_table_width(), subsequent_indent="  "))

    methods = interval_methods(scored.metrics, scored.gaps, scored.infos)
    print("\n" + textwrap.fill(legend(tables, scored.options.level, scored.options.method, methods),
                               width=_table_width(), break_on_hyphens=False))


TABLE_WIDTH = 100
"""Columns the terminal table is folded to when stdout is not a terminal (a log, a pipe)."""


def _table_width() -> int:
    """The terminal's width on a terminal, else :data:`TABLE_WIDTH`."""
    import shutil

    return shutil.get_terminal_size((TABLE_WIDTH, 24)).columns if sys.stdout.isatty() else TABLE_WIDTH


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.pipeline import evaluate
    from bench.runner import RunConfig

    if args.repeat:
        return _repeat(args)
    if args.resume and (args.suites or args.task or args.domain):
        from bench.errors import ConfigError

        raise ConfigError(f"--resume {args.resume} uses the run's stored configuration; give no suites, --task or --domain "
                          "with it (--model only to repeat a model spec whose URL holds a secret, which is not stored).")
    from bench.suites import DEFAULT_SUITE

    suites = tuple(args.suites or [DEFAULT_SUITE])
    statistics = _statistics_options(args)
    config = RunConfig(
        suites=suites,
        models=tuple(args.model or ()),
        tasks=tuple(args.task or ()),
        seed=args.seed,
        limit=args.limit,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        protocol=args.protocol,
        trials=args.trials,
        num_fewshot=args.num_fewshot,
        log_samples=args.log_samples,
        device=args.device,
        dtype=args.dtype,
        apply_chat_template=args.apply_chat_template,
        max_new_tokens=args.max_new_tokens,
        stop=None if args.stop is None else tuple(args.stop),
        temperature=args.temperature,
        top_p=args.top_p,
        domains=tuple(args.domain or ()),
        timeout_per_batch=args.timeout_per_batch,
    )
    if args.force and not args.resume:
        from bench.errors import ConfigError

        raise ConfigError("--force only goes with --resume RUN_ID (to take over a run that shows as running).")
    done = evaluate(config, args.out, progress=_progress(args),
                    save_models=not args.no_save_models, resume=args.resume, new=args.new, cache=not args.no_cache,
                    statistics=statistics, force=args.force)
    if done is None:  # a torchrun rank other than 0: rank 0 writes and reports
        return 0
    for note in done.result.skipped:
        print(f"skipped: {note}", file=sys.stderr)
    _print_summary(done.scored)
    looked_up = done.cache_hits + done.cache_misses
    if looked_up:
        print(f"\noutput cache: {done.cache_hits} of {looked_up} example outputs reused")
    print(f"run folder:  {done.run_dir}")
    print(f"leaderboard: {done.run_dir.parent.parent / 'leaderboard.csv'}")
    return 0


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


def _repeat(args: argparse.Namespace) -> int:
    from bench.pipeline import repeat_run

    # the default --out means the results folder that holds the run; another --out is where the repeat goes
    check = repeat_run(args.repeat, None if args.out == "results" else args.out, progress=_progress(args))
    print(f"repeated {check.original} as {check.repeated.run_dir}")
    if check.identical:
        print(f"every metric matches exactly ({len(check.repeated.scored.metrics)} rows of metrics.csv)")
        return 0
    print(f"{len(check.differences)} metric row(s) differ:")
    print(check.differences.to_string(index=False))
    return 1


def _protocol_names() -> str:
    from bench.suites import PROTOCOLS

    return ", ".join(PROTOCOLS.names())


def _group_names() -> str:
    from bench.adapters import MODEL_GROUPS

    return ", ".join(MODEL_GROUPS)


def _group_members(group: str) -> str:
    from bench.adapters import MODEL_GROUPS

    return ", ".join(MODEL_GROUPS[group])


def _add_run_parser(commands: argparse._SubParsersAction) -> None:
    from bench.adapters.lm_options import DEVICES, DTYPES
    from bench.suites import DEFAULT_SUITE

    run = commands.add_parser(
        "run", help="score models on suites and write a run folder and the leaderboard",
        description="Train (per the suite's protocol) and score models on suites; write "
                    "<out>/runs/<run_id>/ and merge <out>/leaderboard.csv.")
    run.add_argument("suites", nargs="*", metavar="SUITE_OR_PATH",
                     help=f"registered suite names or suite TOML files (default: {DEFAULT_SUITE})")
    run.add_argument("--model", "-m", action="append", metavar="NAME",
                     help=f"model name, group ({_group_names()}), plugin, module:factory or the folder "
                          "of a saved model; repeatable (default: the suite's own models, else the bundled "
                          "baselines)")
    run.add_argument("--task", action="append", metavar="NAME", help="score only this task; repeatable")
    run.add_argument("--domain", action="append", metavar="NAME",
                     help="score only this domain, or every domain of a group (mmlu: STEM, humanities, "
                          "'social sciences', other; any case); repeatable. Under id_ood the in-domain set is kept")
    run.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    run.add_argument("--out", default="results", metavar="DIR",
                     help="folder that holds runs/ and leaderboard.csv (default: results)")
    run.add_argument("--limit", type=_positive_int, metavar="N", help="score at most N test examples per domain")
    run.add_argument("--batch-size", type=_batch_size, default=64, metavar="N",
                     help="examples per model call (default: 64); auto: language models choose the largest forward "
                          "batch that fits in memory (recorded in run.json)")
    run.add_argument("--data-dir", metavar="DIR", help="folder with data files (default: $XDBENCH_DATA or the cache)")
    run.add_argument("--protocol", metavar="NAME", type=_lower,
                     help=f"override the suites' protocol: {_protocol_names()} (any case)")
    run.add_argument("--trials", type=_positive_int, default=1, metavar="N",
                     help="train every model N times with different seeds; writes trials.csv (default: 1)")
    run.add_argument("--no-save-models", action="store_true",
                     help="do not save the trained baselines' weights under <run folder>/models/")
    run.add_argument("--num-fewshot", type=_non_negative_int, metavar="K",
                     help="few-shot exemplars before each multiple-choice question, from the task's few-shot "
                          "split (default: the task's own, 0 for mmlu)")
    run.add_argument("--log-samples", action="store_true",
                     help="write samples.jsonl: per multiple-choice example the exact prompt, each continuation "
                          "and its log-likelihood, target and prediction")
    run.add_argument("--device", metavar="DEVICE", type=_lower, help=f"device of language models: {DEVICES} "
                     "(default: the best available); the lm-* fine-tunes train on it; other trainable baselines ignore it")
    run.add_argument("--dtype", metavar="DTYPE", type=_lower, help="weights dtype of language models: "
                     f"{', '.join(DTYPES)} (any case); the lm-* fine-tunes train in it; other trainable baselines ignore it")
    run.add_argument("--apply-chat-template", action="store_true",
                     help="render prompts with the tokenizer's chat template (instruct models)")
    run.add_argument("--max-new-tokens", type=int, metavar="N",
                     help="generation tasks: tokens generated at most per answer (default: each task's own)")
    run.add_argument("--stop", action="append", metavar="TEXT",
                     help="generation tasks: a stop sequence (repeatable; replaces each task's own)")
    run.add_argument("--temperature", type=float, metavar="T",
                     help="generation tasks: 0 for greedy decoding, > 0 to sample (seeded by --seed)")
    run.add_argument("--top-p", type=float, metavar="P", help="generation tasks: nucleus sampling mass in (0, 1]")
    run.add_argument("--timeout-per-batch", type=float, metavar="SECONDS",
                     help="fail the run if one model call (a batch) takes longer (default: no limit)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress and no warnings summary")
    _add_statistics_options(run, seed="--stat-seed")
    again = run.add_mutually_exclusive_group()
    again.add_argument("--resume", metavar="RUN_ID",
                       help="finish an interrupted or failed run: score only its missing batches (see 'bench runs')")
    again.add_argument("--new", action="store_true",
                       help="start a new run even if a run of the same configuration is unfinished")
    again.add_argument("--repeat", metavar="RUN_DIR",
                       help="run a finished run's configuration again (from its run.json, no cache) and report "
                            "whether every metric matches exactly (exit 1 if not)")
    run.add_argument("--no-cache", action="store_true", help="neither read nor write the output cache")
    run.add_argument("--force", action="store_true",
                     help="with --resume: take over a run that shows as running (its process on another host is gone)")
    run.set_defaults(handler=_cmd_run)


# --- bench runs / bench cache ------------------------------------------------------------
def _cmd_runs(args: argparse.Namespace) -> int:
    from bench.store import RunStore

    if args.export:
        from bench.pipeline import export_run

        print(f"run folder: {export_run(args.out, args.export).run_dir}")
        return 0
    if args.delete:
        from bench.pipeline import delete_run

        removed = delete_run(args.out, args.delete, force=args.force)
        extra = f" and {len(removed)} leftover folder(s)" if removed else ""
        print(f"deleted run {args.delete} from {Path(args.out) / 'store.sqlite'}{extra}")
        return 0
    store = RunStore(args.out)
    try:
        rows = [(r.run_id, r.state, str(r.batches), r.created_at[:19], ",".join(r.config.get("suites", [])),
                 ",".join(r.config.get("models", [])) or "(defaults)", (r.error or "")[:60])
                for r in store.runs()]
    finally:
        store.close()
    if not rows:
        print(f"no runs in {Path(args.out) / 'store.sqlite'}")
        return 0
    _print_rows([("run_id", "state", "batches", "created (UTC)", "suites", "models", "error"), *rows])
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from bench.store import RunStore

    store = RunStore(args.out)
    try:
        if args.cache_command == "clear":
            print(f"removed {store.clear_cache()} cached output(s) from {store.path}")
            return 0
        info = store.cache_info()
    finally:
        store.close()
    print(f"store:   {info['path']}\nentries: {info['entries']} example outputs ({info['bytes'] / 1e6:.2f} MB)")
    if info["entries"]:
        print(f"oldest:  {info['oldest']}\nnewest:  {info['newest']}")
    return 0


def _add_store_parsers(commands: argparse._SubParsersAction) -> None:
    runs = commands.add_parser("runs", help="list the runs of a results folder with their state",
                               description="List the runs in <out>/store.sqlite: running, interrupted (its process "
                                           "is gone: finish it with 'bench run --resume RUN_ID'), failed or complete.")
    runs.add_argument("--out", default="results", metavar="DIR", help="results folder (default: results)")
    action = runs.add_mutually_exclusive_group()
    action.add_argument("--delete", metavar="RUN_ID", help="remove a run's stored batches (not its folder)")
    action.add_argument("--export", metavar="RUN_ID",
                        help="write a complete run's folder (records, tables, run.json) again from the store")
    runs.add_argument("--force", action="store_true",
                      help="with --delete: delete a run that shows as running (its process on another host is gone)")
    runs.set_defaults(handler=_cmd_runs)
    cache = commands.add_parser("cache", help="show or clear the output cache of a results folder",
                                description="Adapter outputs per example, shared by every run in <out>/store.sqlite.")
    actions = cache.add_subparsers(dest="cache_command", metavar="ACTION", required=True)
    for name, text in (("info", "entries and size"), ("clear", "delete every cached output")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--out", default="results", metavar="DIR", help="results folder (default: results)")
        action.set_defaults(handler=_cmd_cache)


# --- bench serve -------------------------------------------------------------------------
def _cmd_serve(args: argparse.Namespace) -> int:
    from bench.adapters import make_model
    from bench.serve import is_loopback, make_server

    adapter = make_model(args.model)
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    server = make_server(adapter, args.host, args.port, log=log)
    host, port = str(server.server_address[0]), server.server_address[1]
    if not is_loopback(host):
        print(f"warning: listening on {host}, not on 127.0.0.1: anyone who can reach this machine can use the model "
              "(the server has no authentication). Use --host 127.0.0.1 to serve this machine only.",
              file=sys.stderr, flush=True)
    print(f"serving {adapter.name!r} on http://{host}:{port}/v1 (POST /v1/completions with echo=true, "
          "logprobs, max_tokens=0); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _add_serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="serve a language model over the OpenAI-compatible completions API",
        description="Serve a model's prompt log-probabilities at http://HOST:PORT/v1/completions "
                    "(echo=true, logprobs, max_tokens=0), for --model openai-compatible:URL.")
    serve.add_argument("--model", "-m", required=True, metavar="NAME",
                       help="model name, NAME:ARGUMENT or module:factory (a language model)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1; another address warns: no authentication)")
    serve.add_argument("--quiet", "-q", action="store_true", help="do not log requests")
    serve.set_defaults(handler=_cmd_serve)


# --- bench data --------------------------------------------------------------------------
def _data_dir(args: argparse.Namespace) -> Path:
    from bench.data import default_data_dir

    return Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()


def _print_rows(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _cmd_data_list(args: argparse.Namespace) -> int:
    from bench.data.status import data_status

    folder = _data_dir(args)
    print(f"data directory: {folder}")
    rows = [(r.suite, r.dataset, r.state, str(r.path)) for r in data_status(folder)]
    _print_rows([("suite", "data set", "state", "path"), *rows])
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    from bench.data.status import data_status, resolve_datasets

    folder = _data_dir(args)
    wanted = {d for name in args.names for d in resolve_datasets(name)} if args.names else None
    seen: dict[Path, tuple[str, str]] = {}
    for row in data_status(folder):
        if wanted is None or row.dataset in wanted:
            seen[row.path] = (row.dataset, row.state)
    for path, (dataset, state) in seen.items():
        print(f"{state.upper() if state != 'ok' else 'ok':<18} {dataset:<18} {path}")
    bad = [state for _, state in seen.values() if state != "ok"]
    if bad:
        print(f"{len(bad)} of {len(seen)} file(s) missing or corrupt; get them with "
              "'bench data download NAME'.", file=sys.stderr)
        return 1
    print(f"all {len(seen)} file(s) verified in {folder}")
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from bench.data.download import download_dataset
    from bench.data.status import resolve_datasets

    folder = _data_dir(args)
    names = list(dict.fromkeys(d for name in args.names for d in resolve_datasets(name)))
    for name in names:
        with _download_bar(args.quiet) as progress:
            report = download_dataset(name, folder, base_url=args.base_url, timeout=args.timeout,
                                      force=args.force, progress=progress)
        for path in report.written:
            print(f"downloaded {name}: {path}")
        for path in report.present:
            print(f"present    {name}: {path} (checksum ok)")
    return 0


@contextlib.contextmanager
def _download_bar(quiet: bool) -> Iterator[Callable[[str, int, int | None], None] | None]:
    if quiet:
        yield None
        return
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def progress(url: str, done: int, total: int | None) -> None:
        if url not in bars:
            bars[url] = tqdm(total=total, desc=url.rsplit("/", 1)[-1], unit="B", unit_scale=True,
                             leave=False, file=sys.stderr)
        bars[url].update(done - bars[url].n)

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.close()


def _cmd_data_describe(args: argparse.Namespace) -> int:
    import pandas as pd

    from bench.data.describe import describe_suite

    table = describe_suite(args.suite, data_dir=_data_dir(args))
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _add_data_parser(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="find, verify, download and describe data sets",
                               description="Data files of the data-backed suites: where they are expected, "
                                           "whether they verify, how to download them, and what they hold.")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    folder_help = "data directory (default: $XDBENCH_DATA or the user cache folder)"
    listing = actions.add_parser("list", help="each data-backed suite's files: where, present, checksum ok")
    listing.set_defaults(handler=_cmd_data_list)
    check = actions.add_parser("check", help="verify SHA-256 sums; exit 1 if a file is missing or corrupt")
    check.add_argument("names", nargs="*", metavar="NAME", help="data sets or suites to check (default: all)")
    check.set_defaults(handler=_cmd_data_check)
    download = actions.add_parser("download", help="download data sets from their original homes, verified")
    download.add_argument("names", nargs="+", metavar="NAME", help="a data set (e.g. masc_tagged) or a suite")
    download.add_argument("--base-url", metavar="URL", help="a mirror serving the files (default: original URLs, "
                          "or $XDBENCH_DATA_MIRROR)")
    download.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds without data (default: 60)")
    download.add_argument("--force", action="store_true", help="download even if present and verified")
    download.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    download.set_defaults(handler=_cmd_data_download)
    describe = actions.add_parser("describe", help="label balance, text lengths and sizes per domain and split")
    describe.add_argument("suite", metavar="SUITE_OR_PATH")
    describe.set_defaults(handler=_cmd_data_describe)
    for action in (listing, check, download, describe):
        action.add_argument("--data-dir", metavar="DIR", help=folder_help)


# --- bench report / plot / leaderboard ---------------------------------------------------
def _cmd_report(args: argparse.Namespace) -> int:
    from bench.report.html import write_report

    print(f"report: {write_report(args.run_dirs, args.output)}")
    return 0


def _add_report_parser(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report", help="write a self-contained HTML report (summary, figures, tables) of run folders",
        description="Write one self-contained HTML file: a written summary computed from the numbers, then per "
                    "task the heatmap, gap forest plot, transfer matrix, reliability diagrams, effective "
                    "robustness, capability profile or per-genre bars, and sortable, filterable tables.")
    report.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="folders results/runs/<run_id>")
    report.add_argument("--output", "-o", metavar="FILE", help="where to write (default: first RUN_DIR/report.html)")
    report.set_defaults(handler=_cmd_report)


def _cmd_plot(args: argparse.Namespace) -> int:
    from bench.report.plotfile import save_plot

    saved = save_plot(args.kind, args.run_dirs, args.output, suite=args.suite, task=args.task, model=args.model,
                      dpi=args.dpi)
    print(f"{saved.kind} of {saved.task}: {saved.path} ({saved.width_in:.1f} × {saved.height_in:.1f} in, "
          f"{saved.dpi} dpi{saved.pixels})")
    return 0


def _add_plot_parser(commands: argparse._SubParsersAction) -> None:
    from bench.report.kinds import FIGURE_DESCRIPTIONS

    kinds = "; ".join(f"{name}: {text}" for name, text in FIGURE_DESCRIPTIONS.items())
    plot = commands.add_parser("plot", help="save one figure of the report as PNG, SVG or PDF",
                               description=f"Save a report figure at print resolution. Kinds: {kinds}.")
    plot.add_argument("kind", choices=list(FIGURE_DESCRIPTIONS), type=_lower, metavar="KIND", help=", ".join(FIGURE_DESCRIPTIONS))
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (their models are drawn together)")
    plot.add_argument("--output", "-o", required=True, metavar="FILE", help="FILE.png, FILE.svg or FILE.pdf")
    plot.add_argument("--suite", metavar="NAME", help="suite of the task to draw (default: the first)")
    plot.add_argument("--task", metavar="NAME", help="task to draw (default: the first that has this figure)")
    plot.add_argument("--model", metavar="NAME", help="model, for per-model figures (default: the first trained)")
    plot.add_argument("--dpi", type=_positive_int, default=300, help="resolution of PNG files (default: 300)")
    plot.set_defaults(handler=_cmd_plot)


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.errors import ConfigError
    from bench.report import format_table
    from bench.report.board import BoardOptions, build_board, display_table, gap_note, to_markdown

    sources = args.sources or [str(Path(args.out) / "leaderboard.csv")]
    options = BoardOptions(resamples=args.resamples, seed=args.seed, suite=args.suite, task=args.task,
                           metric=args.metric)
    board = build_board(sources, options)
    if args.sort:
        if args.sort not in board.columns:
            raise ConfigError(f"Cannot sort by {args.sort!r}: no such column. Columns: {', '.join(board.columns)}.")
        board = board.sort_values(args.sort, ascending=not args.descending, kind="stable")
    if args.format == "csv":
        text = board.to_csv(index=False)
    elif args.format == "markdown":
        text = to_markdown(board) + "\n"
    else:
        text = format_table(display_table(board)) + (
            f"\n\nrank: 1 = best by the mean over domains; [low–high]: {options.level:.0%} paired bootstrap interval of the rank "
            f"({args.resamples} resamples of the test examples). "
            + " ".join(filter(None, [gap_note(board), "ECE: pooled over all test examples (leaderboard.csv: ece; "
                                     "mean_ece there is the mean over domains)."])) + "\n")
    if args.output:
        from bench.errors import OutputError
        from bench.report.html import write_atomic

        write_atomic(Path(args.output), text.encode("utf-8"), OutputError)
        print(f"leaderboard: {args.output} ({len(board)} rows)")
    else:
        print(text, end="")
    return 0


def _add_leaderboard_parser(commands: argparse._SubParsersAction) -> None:
    board = commands.add_parser(
        "leaderboard", help="merge runs and leaderboard CSVs into one ranked table with rank intervals",
        description="One row per model × suite × task: the metric (mean over domains), worst domain, gap with "
                    "interval, ECE, effective robustness, and the rank with a paired bootstrap rank interval "
                    "(resampling test examples within domains, the same resample for every model).")
    board.add_argument("sources", nargs="*", metavar="RUN_DIR_OR_CSV",
                       help="run folders and/or leaderboard CSVs (default: OUT/leaderboard.csv)")
    board.add_argument("--suite", metavar="NAME", help="only this suite")
    board.add_argument("--task", metavar="NAME", help="only this task")
    board.add_argument("--metric", metavar="NAME", help="rank by this metric (default: each kind's primary)")
    board.add_argument("--sort", metavar="COLUMN", help="sort by this column (default: suite, task, rank)")
    board.add_argument("--descending", action="store_true", help="sort in descending order")
    board.add_argument("--format", choices=["terminal", "markdown", "csv"], default="terminal", type=_lower,
                       help="output format (default: terminal)")
    board.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of the terminal")
    board.add_argument("--resamples", type=_positive_int, default=1000, metavar="N",
                       help="bootstrap resamples for the rank intervals (default: 1000)")
    board.add_argument("--seed", type=int, default=0, help="seed of the resampling (default: 0)")
    board.add_argument("--out", default="results", metavar="DIR", help="folder of the default leaderboard.csv")
    board.set_defaults(handler=_cmd_leaderboard)


# --- bench mitigations -------------------------------------------------------------------
def _cmd_mitigations(args: argparse.Namespace) -> int:
    import pandas as pd

    from bench.pipeline import evaluate, mitigation_tables
    from bench.report import format_table
    from bench.report.mitigations import mitigation_summary
    from bench.runner import RunConfig
    from bench.scoring.mitigations import MITIGATION_GROUP
    from bench.suites import DEFAULT_SUITE

    config = RunConfig(suites=tuple(args.suites or [DEFAULT_SUITE]), models=tuple(args.model or [MITIGATION_GROUP]),
                       seed=args.seed, data_dir=args.data_dir, protocol="id_ood", trials=args.trials,
                       batch_size=args.batch_size, limit=args.limit)
    options = _statistics_options(args)
    done = evaluate(config, args.out, progress=_progress(args),
                    save_models=not args.no_save_models, more_tables=mitigation_tables(options), statistics=options)
    if done is None:  # a torchrun rank other than 0
        return 0
    for note in done.result.skipped:
        print(f"skipped: {note}", file=sys.stderr)
    table = pd.read_csv(done.run_dir / "mitigations.csv")
    print(format_table(mitigation_summary(table)))
    print(f"\nGap: in-domain minus pooled out-of-domain (positive = worse out of domain), {100 * options.level:g}% CI."
          "\nReduction: gap(vs) − gap(mitigation), paired bootstrap CI, paired permutation p;"
          " closed = reduction / gap(vs)."
          "\nMcNemar: exact test of the two models' out-of-domain accuracy on the same examples.")
    if args.trials > 1:
        print(f"Spread over {args.trials} training seeds: trials.csv (a different uncertainty from the CIs above).")
    print(f"run folder:  {done.run_dir}  (mitigations.csv, gaps.csv, metrics.csv)")
    return 0


def _add_mitigations_parser(commands: argparse._SubParsersAction) -> None:
    from bench.suites import DEFAULT_SUITE

    cmd = commands.add_parser(
        "mitigations", help="compare each mitigation's out-of-domain gap with source-only's",
        description=f"Train the group mitigations ({_group_members('mitigations')}; the MiniLM pair where installed) "
                    "under the id_ood protocol and compare each mitigation's out-of-domain gap with its "
                    "baseline's: bootstrap intervals and paired tests. Writes a run folder with mitigations.csv.")
    cmd.add_argument("suites", nargs="*", metavar="SUITE_OR_PATH", help=f"suites (default: {DEFAULT_SUITE})")
    cmd.add_argument("--model", "-m", action="append", metavar="NAME",
                     help="models to compare, each mitigation beside its baseline; repeatable (default: the group "
                          "mitigations; lm-mitigations: smollm2-135m zero-shot and its three fine-tunes)")
    cmd.add_argument("--limit", type=_positive_int, metavar="N", help="score at most N test examples per domain")
    cmd.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    cmd.add_argument("--trials", type=_positive_int, default=1, metavar="N",
                     help="training seeds per model (default: 1)")
    _add_statistics_options(cmd, seed="--stat-seed")
    cmd.add_argument("--out", default="results", metavar="DIR", help="folder for runs/ and leaderboard.csv")
    cmd.add_argument("--data-dir", metavar="DIR", help="folder with data files (default: $XDBENCH_DATA or the cache)")
    cmd.add_argument("--batch-size", type=_positive_int, default=64, metavar="N", help="examples per model call (default: 64)")
    cmd.add_argument("--no-save-models", action="store_true", help="do not save the trained models' weights")
    cmd.add_argument("--quiet", "-q", action="store_true", help="no progress and no warnings summary")
    cmd.set_defaults(handler=_cmd_mitigations)


# --- bench score / bench compare (statistics) -------------------------------------------
def _method(text: str) -> str:
    from bench.scoring.options import METHOD_CHOICES  # light: no scipy while parsing

    found = {m.lower(): m for m in METHOD_CHOICES}.get(text.lower())
    if found is None:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(METHOD_CHOICES)} (any case), "
                                         f"got {text!r}")
    return found


def _add_statistics_options(parser: argparse.ArgumentParser, seed: str = "--seed") -> None:
    """The statistics options, the same on run, score, compare and mitigations (``seed``
    names the seed flag: ``--stat-seed`` where ``--seed`` is the run's seed)."""
    group = parser.add_argument_group("statistics", "intervals and tests (recorded on every row of the tables)")
    group.add_argument("--resamples", type=int, default=10_000, metavar="N",
                       help="bootstrap resamples (default: 10000)")
    group.add_argument("--level", type=float, default=0.95, metavar="L", help="confidence level (default: 0.95)")
    flags = [seed] if seed == "--stat-seed" else [seed, "--stat-seed"]
    group.add_argument(*flags, dest="stat_seed", type=int, default=0, metavar="S",
                       help="seed of the resampling and permutations (default: 0)")
    group.add_argument("--method", type=_method, default="auto", metavar="M",
                       help="interval method: auto (each metric's own: Wilson/Newcombe for accuracy, studentized "
                            "(domains) and percentile (gaps) bootstrap for losses), studentized, BCa or "
                            "percentile; any case (default: auto)")
    group.add_argument("--permutations", type=int, default=2_000, metavar="N",
                       help="Monte Carlo permutations drawn first per test, more up to 10 x tests / alpha "
                            "where a p-value may be small (default: 2000; exact tests need none)")
    group.add_argument("--gaps", type=_gap_kinds, default=None, metavar="KINDS",
                       help="comma-separated gap kinds: id_ood, domain_rest, pairwise, best_worst, spread, "
                            "'default' (all but pairwise) or 'all' (default: default)")


def _gap_kinds(text: str) -> tuple[str, ...]:
    from bench.errors import StatisticsError
    from bench.scoring.options import parse_gap_kinds

    try:
        return parse_gap_kinds(text)
    except StatisticsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _statistics_options(args: argparse.Namespace) -> StatisticsOptions:
    from bench.scoring.options import StatisticsOptions

    kinds = {} if args.gaps is None else {"kinds": args.gaps}
    return StatisticsOptions(resamples=args.resamples, level=args.level, seed=args.stat_seed, method=args.method,
                             permutations=args.permutations, **kinds)


def _cmd_score(args: argparse.Namespace) -> int:
    from bench.pipeline import rescore_run_folder

    scored = rescore_run_folder(args.run_dir, progress=_progress(args), options=_statistics_options(args))
    _print_summary(scored)
    if scored.replaced:
        print(f"NOTE: {scored.replaced}", file=sys.stderr)
    print(f"wrote: {args.run_dir}/metrics.csv ({len(scored.metrics)} rows), "
          f"{args.run_dir}/gaps.csv ({len(scored.gaps)} rows)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from bench.errors import ConfigError
    from bench.pipeline import compare_run

    if len(args.run_dirs) > 2:
        raise ConfigError(f"bench compare takes one run folder, or two (model A from the first, B from the "
                          f"second). Got {len(args.run_dirs)}.")
    second = args.run_dirs[1] if len(args.run_dirs) == 2 else None
    options = _statistics_options(args)
    table, path = compare_run(args.run_dirs[0], *args.models, run_dir_b=second, output=args.output,
                              statistics=options)
    shown = table[table["domain_a"].isin(["ALL"]) | (table["kind"] == "group")
                  | (table["kind"] == "id_ood_gap") & (table["domain_b"] == "OOD")]
    columns = ["task", "metric", "kind", "domain_b", "value_a", "value_b", "difference", "ci_low", "ci_high",
               "p_value", "test"]
    print(shown[columns].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    name_a, name_b = (table["model_a"].iloc[0], table["model_b"].iloc[0]) if len(table) else args.models
    print(f"\ndifference > 0: {name_b} better than {name_a} (for gaps: a smaller gap).")
    print(f"wrote: {path}")
    return 0


def _add_statistics_parsers(commands: argparse._SubParsersAction) -> None:
    score = commands.add_parser(
        "score", help="recompute metrics.csv and gaps.csv of a run folder from its records",
        description="Recompute per-domain metrics with intervals and every cross-domain gap (bootstrap CI, "
                    "permutation p-value, Holm, minimum detectable gap) from RUN_DIR/records.csv.gz; no model runs.")
    score.add_argument("run_dir", metavar="RUN_DIR", help="a folder results/runs/<run_id>")
    _add_statistics_options(score)
    score.add_argument("--quiet", "-q", action="store_true", help="no progress and no warnings summary")
    score.set_defaults(handler=_cmd_score)
    compare = commands.add_parser(
        "compare", help="paired comparison of two models on the same examples",
        description="Compare model B with model A on their common examples: exact McNemar test for accuracy, "
                    "paired bootstrap CI and paired permutation test for the other metrics and for the "
                    "difference of their in-domain vs out-of-domain gaps.")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                         help="one run folder holding both models, or two (A from the first, B from the second)")
    compare.add_argument("--models", nargs=2, required=True, metavar=("A", "B"), help="reference model, challenger")
    compare.add_argument("--output", "-o", metavar="FILE", help="CSV to write (default: RUN_DIR/compare-A-vs-B.csv)")
    _add_statistics_options(compare)
    compare.set_defaults(handler=_cmd_compare)


def _cmd_import(args: argparse.Namespace) -> int:
    from bench.importers.publish import import_run

    done = import_run(args.source, args.path, args.out, domain_field=args.domain_field,
                      statistics=_statistics_options(args))
    _print_summary(done.scored)
    harness = f"{done.imported.harness} {done.imported.version}".strip()
    print(f"imported: {harness} log of {', '.join(done.imported.models)} "
          f"({len(done.imported.records)} examples, {len(done.imported.files)} files)")
    print(f"wrote: {done.run_dir}")
    return 0


def _add_import_parser(commands: argparse._SubParsersAction) -> None:
    from bench.importers import IMPORTERS

    parser = commands.add_parser(
        "import", help="turn another harness's per-sample log into a run folder",
        description="Read the per-sample output of lm-evaluation-harness (--log_samples), Inspect or HELM, store "
                    "it as a run and write its run folder, scored as 'bench run' scores its own (docs/importing.md).")
    parser.add_argument("source", type=str.lower, choices=list(IMPORTERS), metavar="SOURCE",
                        help=f"the harness that wrote PATH: {', '.join(IMPORTERS)}")
    parser.add_argument("path", metavar="PATH", help="its output: lm-eval's --output_path folder, an Inspect log "
                        "(.eval, .json) or folder, a HELM run folder")
    parser.add_argument("--out", default="results", metavar="DIR", help="results folder (default: results)")
    parser.add_argument("--domain-field", metavar="F", help="take each example's domain from this field of the "
                        "doc (lm-eval), the sample's metadata (Inspect) or the instance (HELM)")
    _add_statistics_options(parser)
    parser.add_argument("--quiet", "-q", action="store_true", help="no warnings summary")
    parser.set_defaults(handler=_cmd_import)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bench`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="bench",
        description="xdbench: measure how a model's quality changes across domains and tasks.",
        epilog="Start with 'bench run' (the built-in toy-reviews suite and baselines), then 'bench list'.")
    parser.add_argument("--version", action="version", version=f"%(prog)s (xdbench) {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    listing = commands.add_parser("list", help="list suites, models, metrics and protocols",
                                  description="List what is registered, with one-line descriptions.")
    listing.add_argument("what", nargs="?", type=_list_kind, metavar="WHAT",
                         help=f"one of {', '.join(LIST_KINDS)} (singular or plural; default: all)")
    listing.set_defaults(handler=_cmd_list)
    _add_run_parser(commands)
    _add_store_parsers(commands)
    _add_serve_parser(commands)
    _add_data_parser(commands)
    _add_report_parser(commands)
    _add_plot_parser(commands)
    _add_leaderboard_parser(commands)
    _add_mitigations_parser(commands)
    _add_statistics_parsers(commands)
    _add_import_parser(commands)
    return parser


FLAG_TABLE_START = "<!-- flag table: generated by bench.cli.flag_table(); do not edit by hand -->"
FLAG_TABLE_END = "<!-- end of flag table -->"


def _subcommands(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``(command path, parser)`` of every command with arguments of its own, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}".strip(), sub
                yield from _subcommands(sub, f"{path} {name}")


def _flag_cell(action: argparse.Action) -> str:
    metavar = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar or ())
    if not action.option_strings:
        return f"`{metavar or action.dest.upper()}`"
    value = "" if action.nargs == 0 else f" {metavar or action.dest.upper()}"
    return ", ".join(f"`{flag}{value}`" for flag in action.option_strings)


def flag_table(parser: argparse.ArgumentParser | None = None) -> str:
    """Every argument of every ``bench`` command as a Markdown table (``| command | argument
    | what it does |``), from the parser itself: README's table is this text between
    :data:`FLAG_TABLE_START` and :data:`FLAG_TABLE_END` (a test compares them)."""
    rows = ["| command | argument | what it does |", "| --- | --- | --- |"]
    for path, sub in _subcommands(parser or build_parser()):
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
                continue
            text = " ".join((action.help or "").split()).replace("|", "\\|")
            rows.append(f"| `bench {path}` | {_flag_cell(action)} | {text} |")
    return "\n".join(rows)


def _own_parsers(parser: argparse.ArgumentParser) -> None:
    """Each (sub)command remembers its parser, so that an unknown flag is reported with
    that command's usage (``bench run --bogus`` shows ``usage: bench run …``)."""
    parser.set_defaults(command_parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _own_parsers(sub)


def _import_from_cwd() -> None:
    """``module:factory`` specs import from the current folder under the ``bench`` script as
    under ``python -m bench`` (which puts the current folder first on ``sys.path``)."""
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)


# --- lm-evaluation-harness spellings ------------------------------------------------------
LM_EVAL_ALIASES: dict[str, str] = {
    "--num_fewshot": "--num-fewshot",
    "--output_path": "--out",
    "--log_samples": "--log-samples",
    "--apply_chat_template": "--apply-chat-template",
    "--batch_size": "--batch-size",
}
"""lm-eval's flags that mean what an xdbench flag means: accepted as that flag."""


def _lm_eval_aliases(argv: Sequence[str]) -> list[str]:
    """``argv`` with lm-eval's spellings of :data:`LM_EVAL_ALIASES` (``--flag V`` or
    ``--flag=V``) replaced by xdbench's."""
    out = []
    for token in argv:
        flag, eq, value = token.partition("=")
        out.append(LM_EVAL_ALIASES.get(flag, flag) + eq + value if flag in LM_EVAL_ALIASES else token)
    return out


def _hf_spec(model_args: str) -> str:
    """lm-eval's ``--model_args pretrained=P,k=v`` as xdbench's ``hf-causal-lm:P?k=v``."""
    pairs = [part.partition("=") for part in model_args.split(",") if part]
    found = {key.strip(): value.strip() for key, _, value in pairs}
    path = found.pop("pretrained", "PATH")
    return f"hf-causal-lm:{path}" + ("?" + "&".join(f"{k}={v}" for k, v in found.items()) if found else "")


def lm_eval_suggestion(argv: Sequence[str]) -> str | None:
    """For a ``bench run`` command line that uses lm-eval's ``--tasks`` or ``--model_args``,
    the xdbench command that means the same (``--tasks mmlu`` → ``bench run mmlu``;
    ``--model hf --model_args pretrained=P,dtype=bfloat16`` → ``--model hf-causal-lm:P?dtype=bfloat16``);
    ``None`` when it uses neither."""
    import shlex

    rest = list(argv)
    if not rest or rest[0] != "run" or not any(t.split("=")[0] in ("--tasks", "--model_args") for t in rest):
        return None
    tasks, model_args = _take(rest, "--tasks"), _take(rest, "--model_args")
    if model_args is not None:
        lm_eval_type = _take(rest, "--model")  # lm-eval's model type (hf): the spec replaces it
        if lm_eval_type is not None and lm_eval_type not in ("hf", "huggingface"):
            rest += ["--model", lm_eval_type]
        rest += ["--model", _hf_spec(model_args)]
    suites: list[str] = []
    for name in (tasks or "").replace(",", " ").split():
        suite, flags = _lm_eval_subtask(name)
        suites += [suite] if suite not in suites else []
        rest += flags
    return shlex.join(["bench", "run", *suites, *rest[1:]])


def _lm_eval_subtask(name: str) -> tuple[str, list[str]]:
    """``(suite, flags)`` of an lm-eval task name: ``mmlu_anatomy`` is mmlu's domain anatomy
    (a group too: ``mmlu_stem``), ``mmlu_generative`` mmlu's task of that name; any other
    name is a suite."""
    from bench.suites import SUITES, load_suite

    head, _, tail = name.partition("_")
    if tail and head in SUITES.names() and name not in SUITES.names():
        suite = load_suite(head)
        groups = {g.lower().replace(" ", "_"): g for g in suite.domain_groups.values()}
        if tail in suite.domains or tail in groups:
            return head, ["--domain", groups.get(tail, tail)]
        if name in {t.name for t in suite.tasks}:
            return head, ["--task", name]
    return name, []


def _take(argv: list[str], flag: str) -> str | None:
    """Remove the first ``flag V`` or ``flag=V`` from ``argv``; return ``V`` (``None`` if absent)."""
    for k, token in enumerate(argv):
        if token == flag and k + 1 < len(argv):
            value = argv[k + 1]
            del argv[k:k + 2]
            return value
        if token.startswith(flag + "="):
            del argv[k]
            return token.split("=", 1)[1]
    return None


def _interrupted(exc: KeyboardInterrupt) -> str:
    """The line Ctrl-C ends a command with: for a stored run, its id and the command that resumes it."""
    from bench.errors import RunInterrupted

    if isinstance(exc, RunInterrupted):
        return f"interrupted: run {exc.run_id} keeps the batches it stored; resume it with '{exc.resume}'"
    return "interrupted"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bench``; returns the exit status.

    Warnings raised while a command runs are collected and reported on stderr as one line
    per kind (count, first message, a few more places) after it; ``--quiet`` drops them.
    """
    parser = build_parser()
    _own_parsers(parser)
    argv = _lm_eval_aliases(sys.argv[1:] if argv is None else argv)
    suggestion = lm_eval_suggestion(argv)
    if suggestion:
        print(f"error: --tasks and --model_args are lm-evaluation-harness's spellings; did you mean: {suggestion}",
              file=sys.stderr)
        return EXIT_ERROR
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    _import_from_cwd()
    with warnings.catch_warnings(record=True) as caught:  # the filters in force decide what is recorded
        try:
            return args.handler(args)
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt as exc:
            print(_interrupted(exc), file=sys.stderr)
            return 130
        finally:
            _report_warnings(caught, getattr(args, "quiet", False))


if __name__ == "__main__":
    sys.exit(main())
