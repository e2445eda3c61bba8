"""The ``sealer_runner`` command: global options, verbs, and the one place errors become exit codes.

Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad input.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click

from .. import __version__
from ..errors import SealerError
from .context import ENV_ROOT, AppContext, default_root

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), envvar=ENV_ROOT, default=None,
              help=f"Local image store and state directory [env {ENV_ROOT}; default /var/lib/sealer_runner "
                   "as root, else ~/.local/share/sealer_runner].")
@click.option("--registry-mirror", "mirrors", multiple=True, metavar="REGISTRY=URL",
              help="Pull REGISTRY's images through URL first, e.g. docker.io=http://127.0.0.1:5001; repeatable. "
                   "Also read from <root>/registries.yaml.")
@click.option("--insecure-registry", "insecure", multiple=True, metavar="HOST[:PORT]",
              help="Allow plain HTTP and unverified TLS for this registry; repeatable.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="Extra CA bundle for registries.")
@click.option("--skip-tls-verify", is_flag=True, help="Do not verify registry TLS certificates (unsafe).")
@click.option("-q", "--quiet", is_flag=True, help="Print only results (no progress).")
@click.option("-d", "--debug", is_flag=True, help="Show debug detail, and tracebacks of internal errors.")
@click.version_option(__version__, "--version", prog_name="sealer_runner")
@click.pass_context
def cli(ctx: click.Context, root: Path | None, mirrors: tuple[str, ...], insecure: tuple[str, ...],
        ca_file: str | None, skip_tls_verify: bool, quiet: bool, debug: bool) -> None:
    """sealer_runner: build, share and run cluster images.

    A cluster image packs Kubernetes, applications, Helm charts and every
    container image they need into one OCI image, built from a Kubefile.

    \b
    Examples:
      sealer_runner build -f Kubefile -t my-cluster:v1 .
      sealer_runner images
      sealer_runner inspect my-cluster:v1
      sealer_runner save -o my-cluster.tar my-cluster:v1
      sealer_runner load -i my-cluster.tar
      sealer_runner push my-cluster:v1 registry.example.com/team/my-cluster:v1
    """
    registry_options = {"mirrors": mirrors, "insecure": insecure, "ca_file": ca_file,
                        "skip_tls_verify": skip_tls_verify}
    ctx.obj = AppContext(root=root or default_root(), quiet=quiet, debug=debug, registry_options=registry_options)


def _register() -> None:
    from . import archive_cmds, build_cmd, check_cmds, image_cmds, registry_cmds, run_cmd

    for module in (build_cmd, image_cmds, archive_cmds, registry_cmds, run_cmd, check_cmds):
        for command in module.COMMANDS:
            cli.add_command(command)
    from . import infra_cmd  # cloud machines and `apply` (issue 15)
    for command in infra_cmd.COMMANDS:
        cli.add_command(command)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def version(as_json: bool) -> None:
    """Print the version of sealer_runner and of its engines."""
    import json
    import platform

    info = {"sealer_runner": __version__, "python": platform.python_version(), "ansible-core": _ansible_version()}
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            click.echo(f"{key}: {value}")


def _ansible_version() -> str:
    try:
        from ansible.release import __version__ as v
    except ImportError:
        return "not installed"
    return v


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to exit codes."""
    debug = "-d" in (argv or sys.argv[1:]) or "--debug" in (argv or sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="sealer_runner", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except SealerError as exc:
        click.echo(f"error: {exc}", err=True)
        if debug:
            traceback.print_exc()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug: say so plainly, keep the detail for --debug
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        if debug:
            traceback.print_exc()
        else:
            click.echo("(run with --debug for the traceback, and please report it)", err=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
