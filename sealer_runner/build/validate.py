"""Build-time validation: every Kubernetes object in an image works on the image's Kubernetes version.

The objects are the documents with an ``apiVersion`` and a ``kind`` in the image's YAML files
(manifests, APP/CNI/CSI apps, ``*.tmpl``) and in its Helm charts as rendered for the image scan
(:class:`~sealer_runner.imagecache.collect.ImageContent` renders each chart once for both).

The version is the image's ``cluster.alpha.sealer.io/cluster-runtime-version`` label (its own or
its base image's), else the ``kubernetesVersion`` of its ``etc/kubeadm.yml``, else the range of its
``KUBEVERSION`` (``app.alpha.sealer.io/supported-kube-version``), which must hold for every
version it admits.

Checks, per object:

1. an API version a release stopped serving (:mod:`.removed_apis`, from the Kubernetes deprecated
   API migration guide) fails if the image's newest version is that release or later; the message
   says what replaces it;
2. an API version that the table knows to be served only from some release fails if the image's
   oldest version is older;
3. objects of the built-in API groups are validated against the OpenAPI schemas of the version
   (kubernetes-validate, offline; schemas from v1.25 on): wrong types, missing required fields, and
   kinds the version does not serve.

Objects of other groups (custom resources, kubeadm and sealer documents) are left alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

import yaml

from ..errors import ImageContentError, InputError
from ..imagecache.collect import ImageContent
from ..kube.version import KubeVersion
from ..kubefile.plan import LABEL_CLUSTER_RUNTIME_VERSION, LABEL_SUPPORTED_KUBE_VERSION
from ..kubefile.problem import InstructionError
from ..kubefile.semver import admits
from .removed_apis import RemovedAPI, newest_removal, removal, served_since

Version = tuple[int, int, int]
KUBEADM_FILES = ("etc/kubeadm.yml", "etc/kubeadm.yaml")
MAX_LISTED = 40
MAX_NODES = 1_000_000
_TEMPLATED = re.compile(r"\{\{|\$\{|\$\(|<%")

#: Groups served by kube-apiserver itself ("" is the core group). Custom resources can never be in
#: a group without a dot, nor in these: objects of any other group are not checked against schemas.
BUILTIN_GROUPS = frozenset({
    "", "apps", "autoscaling", "batch", "extensions", "policy",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io", "coordination.k8s.io",
    "discovery.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io",
    "networking.k8s.io", "node.k8s.io", "rbac.authorization.k8s.io", "resource.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
})

#: Files that look like core objects but are read by clients, never sent to the API server.
CLIENT_FILES = frozenset({("v1", "Config")})  # a kubeconfig


# ------------------------------------------------------------------ the version(s) to check against


@dataclass(frozen=True)
class Target:
    """The Kubernetes versions the image's objects must work on: one, or a range's oldest and newest."""

    low: Version
    high: Version
    source: str
    open_ended: bool = False  # a range with no upper bound: its newest is "every release to come"
    exact: bool = True  # one version (a label, kubeadm.yml), not a range

    @property
    def render_version(self) -> str | None:
        """The version Helm charts are rendered for (``.Capabilities.KubeVersion``): the exact one, or a
        bounded range's newest; None (Helm's default) for an open-ended range."""
        return None if self.open_ended else _v(self.high)

    def describe(self) -> str:
        if self.exact:
            return f"Kubernetes {_v(self.low)} ({self.source})"
        if self.low[:2] == self.high[:2]:
            return f"Kubernetes v{self.low[0]}.{self.low[1]} ({self.source})"
        top = "and later" if self.open_ended else f"to v{self.high[0]}.{self.high[1]}"
        return f"Kubernetes v{self.low[0]}.{self.low[1]} {top} ({self.source})"


def target_of(labels: Mapping[str, str], files: Mapping[str, bytes]) -> Target | None:
    """The versions to validate against, from the image's labels and ``etc/kubeadm.yml``; None if unknown."""
    label = str(labels.get(LABEL_CLUSTER_RUNTIME_VERSION, "")).strip()
    if label:
        try:
            version = KubeVersion.parse(label)
        except InputError as exc:
            raise ImageContentError(f"label {LABEL_CLUSTER_RUNTIME_VERSION}: {exc}") from None
        exact = (version.major, version.minor, version.patch)
        return Target(exact, exact, f"label {LABEL_CLUSTER_RUNTIME_VERSION}={label}")
    for path in KUBEADM_FILES:
        if (found := _kubeadm_version(files.get(path))) is not None:
            exact = (found.major, found.minor, found.patch)
            return Target(exact, exact, f"kubernetesVersion of {path}")
    supported = str(labels.get(LABEL_SUPPORTED_KUBE_VERSION, "")).strip()
    return range_target(supported) if supported else None


def range_target(text: str) -> Target:
    """The oldest and newest Kubernetes 1.x releases a ``KUBEVERSION`` range admits."""
    minors = {int(n) for n in re.findall(r"\d+\.(\d{1,3})", text)}
    named = {int(n) for n in re.findall(r"\d+\.\d+\.(\d{1,3})", text)}  # patch bounds: what is either side
    top = max([newest_removal(), _newest_schema() or 0, *minors]) + 1
    patches = sorted({0, 999, *[p + d for p in named for d in (-1, 0, 1)]} - {-1})
    try:
        admitted = [(1, minor, patch) for minor in range(0, top + 1) for patch in patches
                    if admits(text, (1, minor, patch))]
    except InstructionError as exc:
        raise ImageContentError(f"label {LABEL_SUPPORTED_KUBE_VERSION}: {exc}") from None
    source = f"KUBEVERSION {text}"
    if not admitted:
        raise ImageContentError(f"label {LABEL_SUPPORTED_KUBE_VERSION}: {text!r} admits no Kubernetes 1.x release")
    newest = admitted[-1][1]
    low, high = admitted[0], next(v for v in admitted if v[1] == newest)  # each its minor's lowest patch
    return Target(low, high, source, open_ended=newest == top, exact=False)


def _kubeadm_version(data: bytes | None) -> KubeVersion | None:
    if not data:
        return None
    try:
        docs = list(yaml.safe_load_all(data.decode("utf-8", "replace")))
    except yaml.YAMLError:
        return None
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "ClusterConfiguration":
            try:
                return KubeVersion.parse(str(doc.get("kubernetesVersion", "")))
            except InputError:
                return None
    return None


# ------------------------------------------------------------------ objects


@dataclass(frozen=True)
class KubeObject:
    file: str
    document: int  # 1-based, among the file's documents
    node: yaml.Node
    data: dict
    templated: bool  # a *.tmpl file: ${VARS} are filled in at run time

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion"))

    @property
    def kind(self) -> str:
        return str(self.data.get("kind"))

    @property
    def name(self) -> str:
        meta = self.data.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else "(no name)")
        return f"{self.kind}/{name}"

    def line(self, path: Iterable[Any] = ()) -> int:
        """The 1-based line of the value at *path* (as deep as it exists) in the file."""
        return _node_at(self.node, list(path)).start_mark.line + 1


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    document: int
    obj: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} (document {self.document}, {self.obj}): {self.message}"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when PyYAML has it: 4x faster
    """YAML as the API server reads it: timestamps stay strings (the schemas want strings)."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def objects_in(text: str, file: str, *, templated: bool = False) -> tuple[list[KubeObject], list[Problem]]:
    """The Kubernetes objects of a (multi-document) YAML text; items of a ``kind: List`` count one by one.

    Text that is not YAML is a problem only when it looks like a manifest (top-level ``apiVersion:``
    and ``kind:``) and is not a template; otherwise it is none of this check's business. A document
    whose aliases expand it past :data:`MAX_NODES` nodes is refused unread, as Kubernetes' YAML
    decoder refuses "excessive aliasing".
    """
    objects: list[KubeObject] = []
    loader = _Loader(text)
    document = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            document += 1
            if node is None:
                continue
            if _expanded_size(node) > MAX_NODES:
                line = node.start_mark.line + 1
                message = f"the document expands to more than {MAX_NODES} YAML nodes through its aliases"
                return objects, [Problem(file, line, document, "?", message)]
            data = loader.construct_document(node)
            objects += _objects_of(data, node, file, document, templated)
    except (yaml.YAMLError, RecursionError) as exc:
        if templated or not (re.search(r"^apiVersion:", text, re.M) and re.search(r"^kind:", text, re.M)):
            return objects, []
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(getattr(exc, "problem", None) or exc)
        return objects, [Problem(file, line, document + 1, "?", f"not valid YAML: {problem}")]
    finally:
        loader.dispose()
    return objects, []


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once its aliases are expanded (linear time: sizes are memoized);
    more than :data:`MAX_NODES` for a document that contains itself (``&a [*a]``)."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if children_done or not children:
            visiting.discard(id(node))
            sizes[id(node)] = min(MAX_NODES + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if id(node) in visiting or any(id(c) in visiting for c in children):
            return MAX_NODES + 1  # recursive: infinite once expanded
        visiting.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _objects_of(data: Any, node: yaml.Node, file: str, document: int, templated: bool) -> list[KubeObject]:
    if not (isinstance(data, dict) and isinstance(data.get("apiVersion"), str) and isinstance(data.get("kind"), str)):
        return []
    if _TEMPLATED.search(data["apiVersion"] + data["kind"]):
        return []
    if data["kind"].endswith("List") and isinstance(data.get("items"), list):
        items_node = _node_at(node, ["items"])
        nodes = items_node.value if isinstance(items_node, yaml.SequenceNode) else []
        out = []
        for item, item_node in zip(data["items"], nodes, strict=False):
            out += _objects_of(item, item_node, file, document, templated)
        return out
    return [KubeObject(file, document, node, data, templated)]


def image_objects(content: ImageContent) -> tuple[list[KubeObject], list[Problem]]:
    """Every object in the image's YAML files and rendered Helm charts."""
    objects: list[KubeObject] = []
    problems: list[Problem] = []
    for path, text in content.yaml_texts():
        found, bad = objects_in(text, path, templated=path.endswith(".tmpl"))
        objects += found
        problems += bad
    for chart, rendered in content.rendered_charts():
        for template, text in sorted(rendered.items()):
            found, bad = objects_in(text, f"{chart} (rendered {template})")
            objects += found
            problems += bad
    return objects, problems


# ------------------------------------------------------------------ checks


def chart_problems(content: ImageContent, target: Target) -> list[Problem]:
    """Charts whose ``kubeVersion`` refuses the image's version: ``helm install`` would refuse them."""
    out: list[Problem] = []
    for _chart, where, text in content.chart_metadata():
        try:
            meta = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            continue  # rendering the chart says what is wrong with it
        wanted = meta.get("kubeVersion") if isinstance(meta, dict) else None
        if not isinstance(wanted, str) or not wanted.strip():
            continue
        match = re.search(r"^kubeVersion\s*:", text, re.M)
        line = text.count("\n", 0, match.start()) + 1 if match else 1
        obj = f"chart {meta.get('name', '?')}"
        try:
            refused = sorted({v for v in (target.low, target.high) if not admits(wanted, v)})
        except InstructionError:
            out.append(Problem(where, line, 1, obj, f"kubeVersion {wanted!r} is not a semver range"))
            continue
        if refused:
            which = (f"which {_v(target.low)} is not" if target.exact
                     else f"which not all of {target.describe()} are")
            out.append(Problem(where, line, 1, obj, f"the chart requires Kubernetes {wanted.strip()} (its "
                                                    f"kubeVersion), {which}: helm would refuse to install it"))
    return out



@dataclass
class Validation:
    target: Target
    objects: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def error(self) -> ImageContentError:
        shown = [f"  {p}" for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            shown.append(f"  ... and {len(self.problems) - MAX_LISTED} more")
        return ImageContentError(
            f"{len(self.problems)} Kubernetes object(s) of the image would not work on {self.target.describe()}:\n"
            + "\n".join(shown)
            + "\n(fix the objects, or build anyway with --skip-validation)")


def validate(objects: Iterable[KubeObject], target: Target) -> Validation:
    """Check every object against *target* (see the module's docstring)."""
    result = Validation(target)
    schemas = _Schemas(target, result)
    for obj in objects:
        result.objects += 1
        result.problems += check_object(obj, target, schemas)
    return result


def check_object(obj: KubeObject, target: Target, schemas: _Schemas | None = None) -> list[Problem]:
    api, kind = obj.api_version, obj.kind

    def problem(message: str, path: Iterable[Any] = ()) -> list[Problem]:
        return [Problem(obj.file, obj.line(path), obj.document, obj.name, message)]

    if target.high[0] == 1 and (removed := removal(api, kind)) is not None and target.high[1] >= removed.removed_in:
        return problem(_removed_message(removed, kind, target), ["apiVersion"])
    since = served_since(api, kind)
    if target.low[0] == 1 and since is not None and target.low[1] < since:
        return problem(f"{api} {kind} is served only from Kubernetes v1.{since}, but the image is also for "
                       f"v{target.low[0]}.{target.low[1]}", ["apiVersion"])
    if schemas is None or _group(api) not in BUILTIN_GROUPS or (api, kind) in CLIENT_FILES:
        return []
    for minor in schemas.minors:
        found = schemas.check(obj, minor)
        if found is not None:
            message, path = found
            return problem(message, path)
    return []


def _removed_message(removed: RemovedAPI, kind: str, target: Target) -> str:
    text = f"{removed.api_version} {kind} was removed in Kubernetes v1.{removed.removed_in}"
    if not target.exact:
        text += f" and the image is for {target.describe()}"
    if not removed.replacements:
        return f"{text}; {removed.notes}"
    usable = [r for r in removed.replacements if r.since <= target.low[1]
              and not ((later := removal(r.api_version, kind)) and later.removed_in <= target.high[1])]
    choices = usable or list(removed.replacements)
    text += "; use " + " or ".join(f"{r.api_version} (served since v1.{r.since})" for r in choices)
    if removed.notes:
        text += f"; notable changes: {removed.notes}"
    return text


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _v(version: Version) -> str:
    return f"v{version[0]}.{version[1]}.{version[2]}"


def _node_at(node: yaml.Node, path: list[Any]) -> yaml.Node:
    for step in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            nxt = node.value[step]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    return node


# ------------------------------------------------------------------ schemas (kubernetes-validate)
#
# kubernetes-validate ships, per Kubernetes minor, one JSON schema per kind and API version
# (``v1.30.0-local/deployment-apps-v1.json``) referring to one ``_definitions.json``. Its validate()
# reads both files again for every object (20 ms an object); the validators here are built once per
# schema and process.


def _engine() -> Any:
    try:
        import jsonschema
        import kubernetes_validate
        import referencing
    except ImportError:  # pragma: no cover - a broken install; the removed-API table still applies
        return None
    return kubernetes_validate, jsonschema, referencing


def _schema_root() -> Any:
    engine = _engine()
    if engine is None:
        return None
    return resources.files(engine[0].__name__) / "kubernetes-json-schema"


@lru_cache(maxsize=1)
def _schema_minors() -> tuple[int, ...]:
    root = _schema_root()
    if root is None:
        return ()
    found = (re.fullmatch(r"v1\.(\d+)\.0-local", entry.name) for entry in root.iterdir())
    return tuple(sorted(int(m.group(1)) for m in found if m))


def _newest_schema() -> int | None:
    minors = _schema_minors()
    return minors[-1] if minors else None


@lru_cache(maxsize=4)
def _definitions(minor: int) -> Any:
    _, _, referencing = _engine()
    text = (_schema_root() / f"v1.{minor}.0-local" / "_definitions.json").read_text()
    return referencing.Resource.from_contents(json.loads(text)) @ referencing.Registry()


@lru_cache(maxsize=512)
def _validator(minor: int, api_version: str, kind: str) -> Any:
    """The validator of *kind* in *api_version* on 1.*minor*, or None when that version serves no such kind."""
    _, jsonschema, referencing = _engine()
    # as kubernetes-validate names them: rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1
    name = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_root() / f"v1.{minor}.0-local" / f"{kind.lower()}-{name}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    registry = referencing.Resource.from_contents(schema) @ _definitions(minor)
    return jsonschema.Draft202012Validator(schema, registry=registry)


class _Schemas:
    """The OpenAPI schemas of the target's oldest and newest versions that kubernetes-validate has."""

    def __init__(self, target: Target, result: Validation) -> None:
        self._warnings = result.warnings
        self.minors: list[int] = []
        have = _schema_minors()
        if not have:
            result.warnings.append("kubernetes-validate is not installed: objects checked for removed APIs only")
            return
        if target.high[0] != 1:
            return
        version = _engine()[0].__version__
        newest = min(target.high[1], have[-1]) if target.open_ended else target.high[1]
        for wanted in sorted({target.low[1], newest}):
            if wanted < have[0]:
                result.notes.append(f"no API schemas older than Kubernetes v1.{have[0]}: objects are checked "
                                    f"for v1.{wanted} against the removed-API table only")
                continue
            minor = max(m for m in have if m <= wanted)
            if minor != wanted:
                result.notes.append(f"no API schemas for Kubernetes v1.{wanted} here: objects are validated "
                                    f"against v1.{minor}'s (kubernetes-validate {version})")
            if minor not in self.minors:
                self.minors.append(minor)

    def check(self, obj: KubeObject, minor: int) -> tuple[str, list[Any]] | None:
        """(message, path) of the object's first schema violation on 1.*minor*, or None."""
        try:
            validator = _validator(minor, obj.api_version, obj.kind)
            if validator is None:
                return (f"{obj.api_version} {obj.kind} is not served by Kubernetes v1.{minor} "
                        "(no such kind in that API version)", ["apiVersion"])
            for error in validator.iter_errors(obj.data):
                if obj.templated and isinstance(error.instance, str) and _TEMPLATED.search(error.instance):
                    continue  # a ${VAR} filled in at run time
                path = list(error.absolute_path)
                where = ".".join(str(p) for p in path) or "(the object)"
                message = error.message if len(error.message) <= 300 else error.message[:300] + "..."
                return f"{where}: {message} (schema of Kubernetes v1.{minor})", path
        except Exception as exc:  # noqa: BLE001 - a schema the library cannot load is not the image's fault
            self._warnings.append(f"{obj.file}: {obj.name} not validated against v1.{minor}'s schema: {exc}")
        return None
