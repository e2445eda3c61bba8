"""Kubefile parsing: ``parse_kubefile(text, context_dir=...)`` returns a :class:`BuildPlan`."""

from .parser import decode_kubefile, parse_kubefile, read_kubefile
from .plan import (
    APPS_ROOT,
    LABEL_CLUSTER_RUNTIME_TYPE,
    LABEL_CLUSTER_RUNTIME_VERSION,
    LABEL_CONTAINER_RUNTIME_TYPE,
    LABEL_CONTAINER_RUNTIME_VERSION,
    LABEL_KUBE_CNI,
    LABEL_KUBE_CSI,
    LABEL_SUPPORTED_KUBE_VERSION,
    RESERVED_LABELS,
    AppSpec,
    BuildPlan,
    CopyStep,
    RunStep,
    Step,
)

__all__ = [
    "APPS_ROOT",
    "LABEL_CLUSTER_RUNTIME_TYPE",
    "LABEL_CLUSTER_RUNTIME_VERSION",
    "LABEL_CONTAINER_RUNTIME_TYPE",
    "LABEL_CONTAINER_RUNTIME_VERSION",
    "LABEL_KUBE_CNI",
    "LABEL_KUBE_CSI",
    "LABEL_SUPPORTED_KUBE_VERSION",
    "RESERVED_LABELS",
    "AppSpec",
    "BuildPlan",
    "CopyStep",
    "RunStep",
    "Step",
    "decode_kubefile",
    "parse_kubefile",
    "read_kubefile",
]
