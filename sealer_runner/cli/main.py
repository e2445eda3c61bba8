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


#: Every verb but `version`, by name: (module of sealer_runner.cli, attribute, the one line `--help` shows).
#: A verb's module is imported only when that verb runs (or its own --help is asked), so that `version`
#: and `--help` start at once; tests/unit/cli/test_lazy_commands.py keeps this table true to the modules.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "build": ("build_cmd", "build", "Build a cluster image from a Kubefile and the files in CONTEXT."),
    "images": ("image_cmds", "images", "List the images in the local store."),
    "inspect": ("image_cmds", "inspect", "Show an image: layers, labels, env, launch commands, apps, platforms."),
    "tag": ("image_cmds", "tag", "Give the image SOURCE another name TARGET."),
    "rmi": ("image_cmds", "rmi", "Remove images by name or ID; blobs no other image uses are deleted."),
    "save": ("archive_cmds", "save", "Save images to a tar archive, with every layer they need."),
    "load": ("archive_cmds", "load", "Load images from a tar archive, verifying every digest first."),
    "login": ("registry_cmds", "login",
             "Log in to REGISTRY; credentials are checked, then kept (0600) in <root>/auth.json."),
    "logout": ("registry_cmds", "logout", "Forget the credentials kept for REGISTRY."),
    "pull": ("registry_cmds", "pull",
            "Pull IMAGE from its registry (through the configured mirrors) into the local store."),
    "push": ("registry_cmds", "push", "Push IMAGE (to DESTINATION, default: IMAGE's own name) to its registry."),
    "run": ("run_cmd", "run",
           "Run a cluster image onto hosts: deliver it, and everything it needs, with no outside..."),
    "check": ("check_cmds", "check",
             "Check a cluster's hosts, read-only: a table of findings (check, host, ok/warn/fail,..."),
    "exec": ("check_cmds", "exec_",
            "Run a shell COMMAND on the cluster's hosts (as root: sudo for a non-root SSH user, as..."),
    "clusters": ("cluster_cmds", "clusters",
                 "List the clusters this controller knows: image, hosts, runtime, last applied and by whom."),
    "cert": ("cert_cmd", "cert", "Add names to the apiserver certificate of a running Kubernetes cluster, on every master."),
    "join": ("day2_cmds", "join", "Add hosts to a running cluster (alias: scale-up)."),
    "delete": ("day2_cmds", "delete", "Remove hosts from a cluster, or the whole cluster with -a (alias: scale-down)."),
    "upgrade": ("day2_cmds", "upgrade", "Upgrade a running cluster to IMAGE (in the local store)."),
    "state": ("state_cmd", "state",
              "The cluster's state: kept on this controller (<root>/clusters/<name>/) and on every..."),
    "etcd": ("etcd_cmd", "etcd", "Snapshots of a Kubernetes cluster's etcd: take one, or restore every master from one."),
    "infra": ("infra_cmd", "infra", "Cloud machines for a Clusterfile (provider AWS or ALI_CLOUD)."),
    "apply": ("day2_cmds", "apply_cluster",
              "Make a cluster what its Clusterfile says: compare it with the applied state and act."),
}

#: Other names of verbs (sealer's): resolved before the table is looked up.
ALIASES = {"scale-up": "join", "scale-down": "delete"}


class LazyGroup(click.Group):
    """A group whose verbs are imported when used (see LAZY_COMMANDS)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = ALIASES.get(cmd_name, cmd_name)
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, attribute, _ = LAZY_COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY_COMMANDS[name][2] if name in LAZY_COMMANDS and name not in self.commands
                 else self.commands[name].get_short_help_str(limit=formatter.width))
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
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




def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to exit codes."""
    debug = "-d" in (argv or sys.argv[1:]) or "--debug" in (argv or sys.argv[1:])
    try:
        # without standalone mode, click returns a command's exit code (ctx.exit / Exit, e.g. apply --plan's 3)
        result = cli.main(args=argv, prog_name="sealer_runner", standalone_mode=False)
        return result if isinstance(result, int) else 0
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
