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
from contextlib import contextmanager, nullcontext

#: Each command, the module that registers it, and its one-line help (shown by ``--help``).
COMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("eval_command", "evaluate pooled / late / hybrid / BM25 retrieval on a BEIR-format folder"),
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
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars (model loading included) and no informational messages")
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


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Silence every progress bar while the command runs: tqdm's (sentence-transformers, transformers'
    weight loading) and the hub's; the process's settings are restored afterwards, so a ``main()`` called
    from Python (a notebook, a test) leaves later code as loud as it was."""
    saved = {name: os.environ.get(name) for name in _QUIET_VARIABLES}
    os.environ.update(dict.fromkeys(_QUIET_VARIABLES, "1"))
    hf_logging = sys.modules.get("transformers.utils.logging")
    bar_was_on = hf_logging.is_progress_bar_enabled() if hf_logging is not None else None
    if hf_logging is not None:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if hf_logging is not None and bar_was_on:
            hf_logging.enable_progress_bar()


#: Environment switches that tqdm and huggingface_hub read to hide their bars.
_QUIET_VARIABLES = ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if args.quiet and args.verbose:
        parser.error("pass --quiet or --verbose, not both")
    level = logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with quiet_progress() if args.quiet else nullcontext():
            return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, TypeError, TimeoutError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # no doubled quotes
        print(f"smart-plugins {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
