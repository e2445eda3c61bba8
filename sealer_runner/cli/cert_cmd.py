"""``sealer_runner cert --alt-names``: names added to the apiserver certificate on every master, kept in the
cluster's state so that later runs render them too (collection/playbooks/cert.yml does the host part)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import click

from ..errors import InputError, SealerError
from ..kube.runtime import KUBERNETES, parse_alt_names
from ..run.cluster import ClusterState, build_request
from ..run.runner import run as run_playbook
from ..run.runner import stop_if_interrupted
from ..clusterfile import read_clusterfile
from ..run.state import STATE_FILE, applied_dir, masters_state, read_applied, record_cert_sans
from .check_cmds import CLUSTERFILE_OPTION, _spec
from .context import AppContext
from .run_cmd import _key
from .run_display import RunDisplay


@click.command()
@click.option("--alt-names", required=True, metavar="NAME[,NAME...]",
              help="DNS names and IP addresses to add to the apiserver certificate, comma-separated.")
@CLUSTERFILE_OPTION
@click.pass_obj
def cert(app: AppContext, alt_names: str, clusterfile: Path | None) -> None:
    """Add names to the apiserver certificate of a running Kubernetes cluster, on every master.

    \b
    One master at a time, so that the VIP keeps serving: kubeadm makes the certificate anew from the
    cluster's configuration with the names added (`kubeadm init phase certs apiserver`; the old pair
    is put back if it fails), the apiserver's container is restarted (crictl; the kubelet starts it
    again) and must answer /healthz before the next master is touched. master0 also uploads the new
    ClusterConfiguration (kubeadm-config), from which later control-plane joins make theirs.
    The names are kept in the cluster's state (`sealer_runner clusters --json`): later runs keep them
    in the kubeadm configuration. A master whose certificate already has them is left alone.

    \b
    Examples:
      sealer_runner cert --alt-names api.example.com,203.0.113.10
      sealer_runner cert --alt-names k8s.internal -f Clusterfile
    """
    names = parse_alt_names(alt_names)
    spec = _spec(app, clusterfile)
    name = spec.cluster.name
    state_file = applied_dir(app.root, name) / STATE_FILE
    if not state_file.is_file():
        raise InputError(f"cluster {name} was never applied from this controller (no {state_file}): run it first")
    applied = read_applied(state_file)
    if applied.runtime != KUBERNETES:
        raise InputError(f"cluster {name} runs no Kubernetes (its runtime is {applied.runtime}): no apiserver "
                         "certificate to change")
    wanted = tuple(dict.fromkeys([*applied.cert_sans, *names]))
    request = build_request(spec, app.store, app.root, ssh_key=_key(spec), registries=app.registries,
                            added_sans=wanted, verbosity=1 if app.debug else 0)
    request = replace(request, private_dir=ClusterState(app.root, name).dir / "cert", playbook="cert.yml",
                      tags=(), skip_tags=(), limit=None)
    # the masters' copy of the state gets the names too (as the next run would write it)
    text = read_clusterfile(applied_dir(app.root, name) / "Clusterfile", "applied Clusterfile")
    request.extravars["sealer_state"] = masters_state(
        app.root, spec, text, request.extravars, now=datetime.now(timezone.utc), tags=applied.tags,
        host_platforms=applied.platforms)
    started = time.monotonic()
    app.info(f"Adding {', '.join(names)} to the apiserver certificate of cluster {name} "
             f"({len(request.extravars['sealer_kube_masters'])} master(s), one at a time)")
    with RunDisplay(app) as display:
        result = run_playbook(request, display)
    display.summary(result)
    stop_if_interrupted(result, "masters already done have the new certificate; `cert` again finishes the others")
    if not result.ok:
        lines = result.why()
        raise SealerError(f"cert failed ({result.status}, rc {result.rc}); masters before the failed one have the "
                          f"new certificate, the failed one kept its old one:\n{lines}\n"
                          f"artifacts for post-mortem: {result.artifacts}")
    record_cert_sans(app.root, name, wanted)
    app.info(f"Done in {time.monotonic() - started:.1f}s: {result.changed} change(s). The certificate's added "
             f"names: {', '.join(wanted)}")


COMMANDS = [cert]
