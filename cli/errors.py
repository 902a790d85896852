"""Turning the core's exceptions into one-line messages and exit codes."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import typing
from typing import Callable, NoReturn

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperArgument, TyperCommand, TyperGroup

from .interrupt import Terminated


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"vqcodec: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def refuse_terminal_input(inputs: list[str], force: bool = False) -> None:
    """Standard input ('-') that is a terminal is refused unless forced, as gzip does: the
    command would wait for binary data that no one types. One that is closed (`<&-`: Python
    has no sys.stdin) is bad input."""
    if "-" not in inputs:
        return
    if sys.stdin is None:
        fail("standard input is closed", 2)
    if not force and stdin_is_terminal():
        fail("refusing to read binary data from a terminal; redirect or pipe the input", 1)


def guarded(fn: Callable) -> Callable:
    """Run a command: user errors become one line on stderr and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from vqcodec.errors import VQCodecError

        try:
            return fn(*args, **kwargs)
        except VQCodecError as exc:
            fail(str(exc), exc.exit_code)
        except BrokenPipeError:
            # The reader went away (`| head`): end quietly, as SIGPIPE would.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(141)
        except KeyboardInterrupt:
            print("vqcodec: interrupted", file=sys.stderr)
            raise typer.Exit(130)
        except Terminated as exc:
            print("vqcodec: terminated", file=sys.stderr)
            raise typer.Exit(128 + exc.signum)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except OSError as exc:
            fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", 2)
        except MemoryError:
            fail("out of memory", 2)
        except Exception as exc:  # a bug: keep the promise of one line, but say so
            if isinstance(exc, ImportError) and exc.name in ("torch", "torchaudio"):
                fail("this command needs torch: pip install 'vqcodec[train]' (compress, "
                     "decompress, info and models do not)", 1)
            if os.environ.get("VQCODEC_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]  # one line, whatever the message
            fail(f"internal error: {type(exc).__name__}: {first} (set VQCODEC_DEBUG=1 for a traceback)", 70)

    return wrapper


def _plain_coercion(p) -> None:
    """Coerce a str / int / float / bool (or list) parameter without pydantic.

    typer >= 0.29 builds a pydantic TypeAdapter for every parameter a command receives;
    importing pydantic is 0.1-0.2 s of each compress or decompress here. Our parameters carry
    no constraints, so a plain conversion does the same. Anything else, or another typer
    whose internals differ, keeps typer's own coercion."""
    try:
        plain = _plain_param()
        ann, info = p.type_descriptor.annotation, p.type_descriptor.parameter_info
    except (ImportError, AttributeError):
        return
    item = typing.get_args(ann)[0] if typing.get_origin(ann) is list else ann
    if item not in (str, int, float, bool) or getattr(p, "_runtime_param", ...) is not None:
        return
    if any(getattr(info, k, None) is not None for k in ("min", "max", "parser", "click_type")):
        return  # a constraint or a custom parser: typer's own coercion applies it
    p._runtime_param = plain(info, ann, item)


@functools.cache
def _plain_param():
    """typer's RuntimeParam for `_plain_coercion`, converting to its `item` type; the class is
    made once, not once per parameter (a dataclass takes 0.4 ms to make: 10 ms of every
    compress, with its 27 options)."""
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam

    @dataclasses.dataclass(frozen=True)
    class Plain(RuntimeParam):
        item: type

        def _coerce_value(self, value, param, ctx):
            item = self.item

            def one(v):
                if item is bool and not isinstance(v, bool):
                    v = {"1": True, "true": True, "yes": True, "0": False, "false": False,
                         "no": False}.get(str(v).lower(), v)
                    if isinstance(v, bool):
                        return v
                    raise BadParameter(f"{v!r} is not a boolean", ctx=ctx, param=param)
                try:
                    return item(v)
                except (TypeError, ValueError):
                    kind = {int: "an integer", float: "a number"}.get(item, "text")
                    raise BadParameter(f"{v!r} is not {kind}", ctx=ctx, param=param) from None

            return [one(v) for v in value] if isinstance(value, (list, tuple)) else one(value)

    return Plain


class _PlainParams:
    """Every parameter, --help and typer's completion options included, coerced by
    `_plain_coercion`."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:
            _plain_coercion(p)
        return params


class OneLineErrors(_PlainParams, TyperGroup):
    """Usage errors Typer finds (unknown option, missing argument, bad value) follow the same
    contract as ours: one line on stderr, exit status 1."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:  # `vqcodec` or `vqcodec eval` alone: the help
            print(exc.format_message())
            rv = 0
        except ClickException as exc:
            where = getattr(getattr(exc, "ctx", None), "command_path", None)
            hint = f" (see {where} --help)" if where else ""
            print(f"vqcodec: error: {exc.format_message()}{hint}", file=sys.stderr)
            rv = 1
        except typer.Abort:
            print("vqcodec: interrupted", file=sys.stderr)
            rv = 130
        except Terminated as exc:  # before or after a command's own handling
            print("vqcodec: terminated", file=sys.stderr)
            rv = 128 + exc.signum
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


class PlainMetavars(_PlainParams, TyperCommand):
    """Arguments shown by their metavar alone: `INPUT...`, not `{INPUT}...` and `<list[str]>`;
    parameters coerced without pydantic (`_plain_coercion`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for p in self.params:
            if isinstance(p, TyperArgument):
                dots = "..." if p.nargs != 1 else ""
                p.display_type_rich = lambda ctx: None
                p._usage_display_name = lambda p=p, dots=dots: p.display_name_raw + dots
                p._rich_display_name = lambda p=p, dots=dots: p.display_name_raw + dots
