"""The ``slidemap`` command line: one group, one module per subcommand.

Commands only parse options, call library code and print a one-line summary;
the work lives in the library modules. A :class:`~slidemap.errors.SlidemapError`
raised anywhere becomes ``slidemap: error: <message>`` and exit code 2.
"""

from __future__ import annotations

import logging
import signal
import sys

import click

from slidemap import __version__
from slidemap.errors import SlidemapError
from slidemap.interrupts import Terminated, terminate_as_interrupt

log = logging.getLogger("slidemap")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="slidemap")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Map landslides from Sentinel-2 and a DEM with the U-Net and ResU-Net of
    Ghorbanzadeh et al. (2021).

    Start with 'slidemap demo --quick'.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("slidemap: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _register() -> None:
    from slidemap.cli import (
        bench,
        demo,
        evaluate,
        experiment,
        export,
        import_l4s,
        predict,
        prepare,
        report,
        synth,
        train,
    )

    cli.add_command(bench.bench)
    cli.add_command(demo.demo)
    cli.add_command(evaluate.evaluate)
    cli.add_command(experiment.experiment)
    cli.add_command(export.export)
    cli.add_command(import_l4s.import_l4s)
    cli.add_command(predict.predict)
    cli.add_command(prepare.prepare)
    cli.add_command(report.report)
    cli.add_command(synth.synth)
    cli.add_command(train.train)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to ``slidemap: error:`` and exit code 2.

    Ctrl-C ends with exit code 130, SIGTERM (:class:`~slidemap.interrupts.Terminated`)
    with 143, both after the command has removed its temporaries.
    """
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    with terminate_as_interrupt():
        try:
            cli.main(args=args, prog_name="slidemap", standalone_mode=False)
        except SlidemapError as exc:
            if debug:
                raise
            click.echo(f"slidemap: error: {exc}", err=True)
            return 2
        except click.exceptions.Abort as exc:  # click's name for a KeyboardInterrupt
            return _stopped(exc.__cause__, "aborted")
        except click.UsageError as exc:
            if exc.ctx is not None:
                click.echo(exc.ctx.get_usage(), err=True)
            click.echo(f"slidemap: error: {exc.format_message()}", err=True)
            return 2
        except click.ClickException as exc:
            click.echo(f"slidemap: error: {exc.format_message()}", err=True)
            return 2
        except KeyboardInterrupt as exc:
            return _stopped(exc, "interrupted")
    return 0


def _stopped(cause: BaseException | None, what: str) -> int:
    """Say that the command stopped on Ctrl-C (exit code 130) or SIGTERM (143)."""
    if isinstance(cause, Terminated):
        click.echo("slidemap: terminated", err=True)
        return 128 + signal.SIGTERM
    click.echo(f"slidemap: {what}", err=True)
    return 128 + signal.SIGINT
