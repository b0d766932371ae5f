"""Entry point of the ``smart-plugins`` console command.

Each sub-command lives in its own module exposing ``register(subparsers)``, which adds its
parser and sets ``func`` (called with the parsed namespace, returning an exit code).
Only the module of the command being run is imported, so ``--help`` and the commands that need
no model (``index info|delete|compact``) start without loading torch's model libraries.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from smart_plugins.progress import progress_bars, show_progress

#: Each command, the module that registers it, and its one-line help (shown by ``--help``).
COMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("eval_command", "evaluate default / pooled / late / hybrid / BM25 retrieval on a BEIR-format folder"),
    "eval-toy": ("eval_command", "write the code-marker binding task as a BEIR folder"),
    "index": ("index_command", "build and maintain a persistent SMART index"),
    "search": ("index_command", "search a SMART index"),
    "train": ("train_command", "train a SMART token adapter on a frozen model"),
}
#: Modules that each add one or more sub-commands.
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the full arguments of ``command`` (of every command when None; of none when "")."""
    parser = argparse.ArgumentParser(
        prog="smart-plugins",
        description="Hybrid single + multi-vector (SMART) retrieval from a single-vector embedder.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log progress details (-vv: debug messages too, third-party libraries' included)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars (model loading included) and no informational messages")
    parser.add_argument("--progress", action="store_true",
                        help="show progress bars even when standard error is not a terminal (a log file, CI); "
                             "by default they show on a terminal only")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = COMMAND_MODULES if command is None else tuple({COMMANDS[command][0]} if command in COMMANDS else ())
    for name in modules:
        importlib.import_module(f"smart_plugins.cli.{name}").register(subparsers)
    for name, (_, help_text) in COMMANDS.items():
        if name not in subparsers.choices:  # listed in --help; its module loads when it runs
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str:
    """The sub-command named in ``argv`` (the first word that is not an option), or ""."""
    return next((arg for arg in argv if not arg.startswith("-")), "")


_QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


@contextmanager
def quiet_progress(enabled: bool = True) -> Iterator[None]:
    """Silence every progress bar while the block runs: tqdm's (sentence-transformers, ours) through
    ``TQDM_DISABLE``, and transformers' weight-loading bar. Restored afterwards, so an in-process
    caller of :func:`main` keeps its own settings. :func:`main` enables it whenever its own bars
    would be hidden (``--quiet``, or by default when standard error is not a terminal)."""
    if not enabled:
        yield
        return
    saved = {name: os.environ.get(name) for name in _QUIET_ENV}
    transformers_bars = _transformers_bars()
    os.environ.update(_QUIET_ENV)
    _set_transformers_bars(False)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if "transformers" in sys.modules:
            _set_transformers_bars(True if transformers_bars is None else transformers_bars)


def _transformers_bars() -> bool | None:
    if "transformers" not in sys.modules:
        return None
    from transformers.utils import logging as hf_logging

    return bool(hf_logging.is_progress_bar_enabled())


def _set_transformers_bars(on: bool) -> None:
    """Switch transformers' bars if it is imported (imported later, it reads HF_HUB_DISABLE_PROGRESS_BARS)."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.enable_progress_bar() if on else hf_logging.disable_progress_bar()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if args.quiet and (args.verbose or args.progress):
        parser.error(f"pass --quiet or {'--verbose' if args.verbose else '--progress'}, not both")
    level = (logging.DEBUG if args.verbose > 1 else logging.INFO if args.verbose
             else logging.ERROR if args.quiet else logging.WARNING)
    logging.basicConfig(level=level, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with progress_bars("never" if args.quiet else "always" if args.progress else "terminal"):
            # third-party bars (transformers' "Loading weights", the hub's) follow the same rule as ours
            with quiet_progress(not show_progress()):
                return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, TypeError, TimeoutError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # no doubled quotes
        print(f"smart-plugins {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
