"""The ``bench`` command. Only this module prints."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence

from bench import __version__
from bench.errors import BenchError

__all__ = ["build_parser", "main"]

EXIT_ERROR = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


@contextlib.contextmanager
def _progress_bar(total: int, description: str) -> Iterator[Callable[[int], None]]:
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit="ex", leave=False, file=sys.stderr,
              disable=not sys.stderr.isatty() and None) as bar:
        yield bar.update


# --- bench list --------------------------------------------------------------------------
def _cmd_list(args: argparse.Namespace) -> int:
    from bench.adapters import MODELS
    from bench.registry import load_plugins
    from bench.scoring.metrics import METRICS
    from bench.suites import PROTOCOLS, SUITES

    load_plugins()
    sections = {"suites": SUITES, "models": MODELS, "metrics": METRICS, "protocols": PROTOCOLS}
    chosen = [args.what] if args.what else list(sections)
    for name in chosen:
        registry = sections[name]
        print(f"{name}:")
        width = max((len(e.name) for e in registry.entries()), default=0)
        for entry in registry.entries():
            aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
            print(f"  {entry.name.ljust(width)}  {entry.description}{aliases}")
    return 0


# --- bench run ---------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    from bench.adapters import BASELINES
    from bench.pipeline import evaluate
    from bench.report import format_table, summary_table
    from bench.runner import RunConfig

    config = RunConfig(
        suites=tuple(args.suites or ["toy-reviews"]),
        models=tuple(args.model or BASELINES),
        tasks=tuple(args.task or ()),
        seed=args.seed,
        limit=args.limit,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        protocol=args.protocol,
    )
    done = evaluate(config, args.out, progress=None if args.quiet else _progress_bar)
    for note in done.result.skipped:
        print(f"skipped: {note}", file=sys.stderr)
    print(format_table(summary_table(done.scored.metrics, done.scored.gaps, done.scored.infos)))
    print("\n* in-domain (trained on). Gap: in-domain minus pooled out-of-domain, positive = worse out of domain.")
    print(f"run folder:  {done.run_dir}")
    print(f"leaderboard: {done.run_dir.parent.parent / 'leaderboard.csv'}")
    return 0


def _add_run_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run", help="score models on suites and write a run folder and the leaderboard",
        description="Train (per the suite's protocol) and score models on suites; write "
                    "<out>/runs/<run_id>/ and merge <out>/leaderboard.csv.")
    run.add_argument("suites", nargs="*", metavar="SUITE_OR_PATH",
                     help="registered suite names or suite TOML files (default: toy-reviews)")
    run.add_argument("--model", "-m", action="append", metavar="NAME",
                     help="model name, plugin or module:factory; repeatable (default: the bundled baselines)")
    run.add_argument("--task", action="append", metavar="NAME", help="score only this task; repeatable")
    run.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    run.add_argument("--out", default="results", metavar="DIR",
                     help="folder that holds runs/ and leaderboard.csv (default: results)")
    run.add_argument("--limit", type=_positive_int, metavar="N", help="score at most N test examples per domain")
    run.add_argument("--batch-size", type=_positive_int, default=64, metavar="N", help="examples per model call")
    run.add_argument("--data-dir", metavar="DIR", help="folder with data files (default: $XDBENCH_DATA or the cache)")
    run.add_argument("--protocol", metavar="NAME", help="override the suites' protocol")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    run.set_defaults(handler=_cmd_run)


# --- bench serve -------------------------------------------------------------------------
def _cmd_serve(args: argparse.Namespace) -> int:
    from bench.adapters import make_model
    from bench.serve import make_server

    adapter = make_model(args.model)
    log = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    server = make_server(adapter, args.host, args.port, log=log)
    host, port = server.server_address[:2]
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
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--quiet", "-q", action="store_true", help="do not log requests")
    serve.set_defaults(handler=_cmd_serve)


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
    listing.add_argument("what", nargs="?", choices=["suites", "models", "metrics", "protocols"])
    listing.set_defaults(handler=_cmd_list)
    _add_run_parser(commands)
    _add_serve_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bench``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
