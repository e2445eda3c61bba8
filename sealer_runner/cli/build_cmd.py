"""``sealer_runner build``."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import click
from rich.markup import escape

from ..build.builder import BuildOptions, Builder, BuildReporter
from ..build.images import ImageCacheOptions
from ..registry.transfer import TransferReporter
from .registry_cmds import ProgressReporter
from ..errors import InputError
from ..image.layer import LayerInfo
from ..image.metadata import IMAGE_TYPES
from ..image.types import Platform
from .context import AppContext
from .format import human_size
from .options import parse_key_values
from .progress import byte_progress


class ConsoleReporter(BuildReporter):
    """Docker-like build output on stderr: steps, cache hits, layer sizes, RUN output, byte progress."""

    def __init__(self, app: AppContext) -> None:
        self._app = app
        self._progress: ExitStack | None = None
        self._advance = lambda n: None

    def step(self, platform: Platform, index: int, total: int, text: str) -> None:
        self._app.info(f"[bold]STEP {index}/{total}[/bold] [dim]({platform})[/dim]: {escape(text)}")

    def cached(self, layer: LayerInfo | None) -> None:
        what = f"layer {layer.descriptor.digest.short}" if layer else "no changes"
        self._app.info(f"  [green]--> Using cache[/green] ({what})")

    def layer_written(self, layer: LayerInfo | None, seconds: float) -> None:
        if layer is None:
            self._app.info(f"  --> no changes ({seconds:.1f}s)")
        else:
            self._app.info(f"  --> layer {layer.descriptor.digest.short}, "
                           f"{human_size(layer.descriptor.size)} ({seconds:.1f}s)")

    def output(self, line: str) -> None:
        if not self._app.quiet:
            self._app.err.print(f"  | {line}", markup=False)

    def note(self, message: str) -> None:
        self._app.info(f"  --> {escape(message)}")

    def warning(self, message: str) -> None:
        self._app.err.print(f"  [yellow]warning:[/yellow] {escape(message)}")

    def transfer(self) -> TransferReporter:
        self._progress = ExitStack()
        advance = self._progress.enter_context(byte_progress(self._app, "fetching images", None))
        return ProgressReporter(advance)

    def transfer_done(self) -> None:
        self.archived()

    def archiving(self, total_bytes: int) -> None:
        self._progress = ExitStack()
        self._advance = self._progress.enter_context(byte_progress(self._app, "archiving", total_bytes))

    def bytes_archived(self, n: int) -> None:
        self._advance(n)

    def archived(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None


@click.command()
@click.argument("context", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-f", "--file", "kubefile", type=click.Path(dir_okay=False, path_type=Path),
              help="Kubefile to build [default: CONTEXT/Kubefile].")
@click.option("-t", "--tag", "tags", multiple=True, required=True, help="Name (and tag) for the image; repeatable.")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE", help="Set a build ARG; repeatable.")
@click.option("--platform", "platforms", multiple=True, metavar="OS/ARCH",
              help="Target platform(s), e.g. linux/amd64,linux/arm64; several build an OCI index.")
@click.option("--no-cache", is_flag=True, help="Do not reuse cached layers.")
@click.option("--type", "image_type", type=click.Choice(IMAGE_TYPES),
              help="Image type recorded in the metadata [default: the base image's, else kube-installer].")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Add a label; repeatable.")
@click.option("--image-list", "image_lists", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File listing more container images to cache (one per line); repeatable.")
@click.option("--ignored-image-list", "ignored_lists", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="File listing container images NOT to cache, though referenced; repeatable.")
@click.option("--pull", is_flag=True,
              help="Ask the registries again for every container image, even those fetched by an earlier build.")
@click.option("--ignore-missing-images", is_flag=True,
              help="Warn about, instead of failing on, images that cannot be fetched.")
@click.option("--skip-validation", is_flag=True,
              help="Do not check the image's Kubernetes objects against its Kubernetes version.")
@click.pass_obj
def build(app: AppContext, context: Path, kubefile: Path | None, tags: tuple[str, ...], build_args: tuple[str, ...],
          platforms: tuple[str, ...], no_cache: bool, image_type: str | None, labels: tuple[str, ...],
          image_lists: tuple[Path, ...], ignored_lists: tuple[Path, ...], pull: bool,
          ignore_missing_images: bool, skip_validation: bool) -> None:
    """Build a cluster image from a Kubefile and the files in CONTEXT.

    Each COPY, APP, CNI, CSI and RUN instruction becomes one layer. Layers are
    reproducible (same inputs, same digest) and cached: an unchanged
    instruction reuses its layer, so a rebuild with nothing changed does no
    layer work.

    Then every container image the content needs (found in Kubernetes YAML,
    rendered Helm charts, imageList files and --image-list) is pulled, through
    the registry mirrors, into one more layer: registry/, a registry storage
    directory the cluster serves at run time, so nothing is pulled from outside.
    An image fetched by an earlier build is reused without asking the registry
    again (a rebuild works offline); --pull re-resolves every tag.

    Before that, every Kubernetes object in the image (YAML files, APP/CNI/CSI
    apps, rendered Helm charts) is validated against the image's Kubernetes
    version (label cluster.alpha.sealer.io/cluster-runtime-version, its base
    image's, kubernetesVersion in etc/kubeadm.yml, or KUBEVERSION): an API the
    version no longer serves (e.g. policy/v1beta1 PodSecurityPolicy on 1.25+)
    fails the build, naming file, line, object and what replaces the API.
    --skip-validation builds without this check.

    \b
    Examples:
      sealer_runner build -t my-cluster:v1 .
      sealer_runner build -f Kubefile.prod -t reg.local/my/cluster:v2 --build-arg VERSION=1.2 ctx/
      sealer_runner build --platform linux/amd64,linux/arm64 -t my-cluster:v1 .
    """
    build_arg_map = parse_key_values(build_args, "--build-arg")
    label_map = parse_key_values(labels, "--label")
    kubefile = kubefile or context / "Kubefile"
    if not kubefile.is_file():
        raise InputError(f"{kubefile}: no such Kubefile (name another with -f)")
    options = BuildOptions(
        kubefile=kubefile,
        context=context.resolve(),
        tags=tags,
        build_args=build_arg_map,
        platforms=tuple(p for item in platforms for p in item.split(",") if p),
        no_cache=no_cache,
        image_type=image_type,
        labels=label_map,
        skip_validation=skip_validation,
    )
    started = time.monotonic()
    images = ImageCacheOptions(app.registries, tuple(image_lists), tuple(ignored_lists), ignore_missing_images, pull)
    result = Builder(app.store, ConsoleReporter(app), images=images).build(options)
    app.info(f"Built in {time.monotonic() - started:.1f}s: {result.layers_written} layer(s) written, "
             f"{result.layers_cached} from cache")
    for ref in result.tags:
        app.info(f"Tagged {ref.familiar()}")
    click.echo(str(result.descriptor.digest))


COMMANDS = [build]
