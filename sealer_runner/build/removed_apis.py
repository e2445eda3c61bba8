"""The Kubernetes API versions that releases stopped serving, and what replaces each.

Kept by hand from the Kubernetes "Deprecated API Migration Guide"
(https://kubernetes.io/docs/reference/using-api/deprecation-guide/, section "Removed APIs by
release"), plus the v1.16 removal of ``extensions/v1beta1`` PodSecurityPolicy that its v1.16 notes
list, and the removals of betas that were off by default (v1.33 on), which the guide leaves out.
tests/unit/build/test_validate.py compares the table with the OpenAPI schemas of every release that
kubernetes-validate ships: a newer kubernetes-validate whose schemas drop an API fails that test
until a row is added here. Versions are Kubernetes 1.x minors.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Replacement:
    api_version: str
    since: int
    """The first 1.x minor that serves the kinds in ``api_version``."""


@dataclass(frozen=True)
class RemovedAPI:
    api_version: str
    kinds: tuple[str, ...]
    removed_in: int
    """The first 1.x minor that no longer serves ``api_version`` for ``kinds``."""
    replacements: tuple[Replacement, ...]
    """Newest first; empty when nothing replaces the API."""
    notes: str = ""
    """What changes when moving to the replacement (the guide's notable changes, short)."""


def _r(api_version: str, since: int) -> Replacement:
    return Replacement(api_version, since)


_APPS_V1 = (_r("apps/v1", 9),)
_SELECTOR = "spec.selector is required and immutable"
_FLOW = ("FlowSchema", "PriorityLevelConfiguration")

REMOVED_APIS: tuple[RemovedAPI, ...] = (
    # ---- v1.16
    RemovedAPI("extensions/v1beta1", ("NetworkPolicy",), 16, (_r("networking.k8s.io/v1", 8),)),
    RemovedAPI("extensions/v1beta1", ("PodSecurityPolicy",), 16, (_r("policy/v1beta1", 10),),
               "policy/v1beta1 PodSecurityPolicy is itself gone from v1.25 (use Pod Security Admission)"),
    RemovedAPI("extensions/v1beta1", ("DaemonSet",), 16, _APPS_V1,
               f"{_SELECTOR}; spec.templateGeneration is removed; spec.updateStrategy.type defaults to RollingUpdate"),
    RemovedAPI("extensions/v1beta1", ("Deployment", "ReplicaSet"), 16, _APPS_V1,
               f"{_SELECTOR}; spec.rollbackTo is removed (Deployment)"),
    RemovedAPI("apps/v1beta1", ("Deployment", "StatefulSet", "ReplicaSet"), 16, _APPS_V1, _SELECTOR),
    RemovedAPI("apps/v1beta2", ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet"), 16, _APPS_V1, _SELECTOR),
    # ---- v1.22
    RemovedAPI("admissionregistration.k8s.io/v1beta1", ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
               22, (_r("admissionregistration.k8s.io/v1", 16),),
               "webhooks[*].sideEffects (None or NoneOnDryRun) and webhooks[*].admissionReviewVersions are required; "
               "failurePolicy defaults to Fail, timeoutSeconds to 10s"),
    RemovedAPI("apiextensions.k8s.io/v1beta1", ("CustomResourceDefinition",), 22,
               (_r("apiextensions.k8s.io/v1", 16),),
               "spec.scope must be set; spec.version, spec.validation, spec.subresources and "
               "spec.additionalPrinterColumns move under spec.versions[*]; every version needs a structural "
               "schema.openAPIV3Schema"),
    RemovedAPI("apiregistration.k8s.io/v1beta1", ("APIService",), 22, (_r("apiregistration.k8s.io/v1", 10),)),
    RemovedAPI("authentication.k8s.io/v1beta1", ("TokenReview",), 22, (_r("authentication.k8s.io/v1", 6),)),
    RemovedAPI("authorization.k8s.io/v1beta1",
               ("LocalSubjectAccessReview", "SelfSubjectAccessReview", "SubjectAccessReview"), 22,
               (_r("authorization.k8s.io/v1", 6),), "spec.group is renamed spec.groups"),
    RemovedAPI("certificates.k8s.io/v1beta1", ("CertificateSigningRequest",), 22,
               (_r("certificates.k8s.io/v1", 19),), "spec.signerName and spec.usages are required"),
    RemovedAPI("coordination.k8s.io/v1beta1", ("Lease",), 22, (_r("coordination.k8s.io/v1", 14),)),
    RemovedAPI("extensions/v1beta1", ("Ingress",), 22, (_r("networking.k8s.io/v1", 19),),
               "spec.backend is renamed spec.defaultBackend; serviceName/servicePort become "
               "service.name/service.port.number (or .name); every path needs a pathType"),
    RemovedAPI("networking.k8s.io/v1beta1", ("Ingress",), 22, (_r("networking.k8s.io/v1", 19),),
               "spec.backend is renamed spec.defaultBackend; serviceName/servicePort become "
               "service.name/service.port.number (or .name); every path needs a pathType"),
    RemovedAPI("networking.k8s.io/v1beta1", ("IngressClass",), 22, (_r("networking.k8s.io/v1", 19),)),
    RemovedAPI("rbac.authorization.k8s.io/v1beta1", ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"), 22,
               (_r("rbac.authorization.k8s.io/v1", 8),)),
    RemovedAPI("scheduling.k8s.io/v1beta1", ("PriorityClass",), 22, (_r("scheduling.k8s.io/v1", 14),)),
    RemovedAPI("storage.k8s.io/v1beta1", ("CSIDriver",), 22, (_r("storage.k8s.io/v1", 19),)),
    RemovedAPI("storage.k8s.io/v1beta1", ("CSINode",), 22, (_r("storage.k8s.io/v1", 17),)),
    RemovedAPI("storage.k8s.io/v1beta1", ("StorageClass",), 22, (_r("storage.k8s.io/v1", 6),)),
    RemovedAPI("storage.k8s.io/v1beta1", ("VolumeAttachment",), 22, (_r("storage.k8s.io/v1", 13),)),
    # ---- v1.25
    RemovedAPI("batch/v1beta1", ("CronJob",), 25, (_r("batch/v1", 21),)),
    RemovedAPI("discovery.k8s.io/v1beta1", ("EndpointSlice",), 25, (_r("discovery.k8s.io/v1", 21),),
               "per-endpoint nodeName and zone replace topology; topology becomes deprecatedTopology"),
    RemovedAPI("events.k8s.io/v1beta1", ("Event",), 25, (_r("events.k8s.io/v1", 19),),
               "involvedObject is renamed regarding; type is Normal or Warning; action, reason, "
               "reportingComponent and reportingInstance are required"),
    RemovedAPI("autoscaling/v2beta1", ("HorizontalPodAutoscaler",), 25, (_r("autoscaling/v2", 23),),
               "metric targets move to target.averageUtilization / target.averageValue"),
    RemovedAPI("policy/v1beta1", ("PodDisruptionBudget",), 25, (_r("policy/v1", 21),),
               "an empty spec.selector selects every pod of the namespace"),
    RemovedAPI("policy/v1beta1", ("PodSecurityPolicy",), 25, (),
               "nothing replaces it: enforce the Pod Security Standards with Pod Security Admission "
               "(namespace labels pod-security.kubernetes.io/enforce, built in since v1.23) or a third-party "
               "admission webhook, and drop the PodSecurityPolicy and the RBAC rules that 'use' it"),
    RemovedAPI("node.k8s.io/v1beta1", ("RuntimeClass",), 25, (_r("node.k8s.io/v1", 20),)),
    # ---- v1.26
    RemovedAPI("flowcontrol.apiserver.k8s.io/v1beta1", _FLOW, 26,
               (_r("flowcontrol.apiserver.k8s.io/v1", 29), _r("flowcontrol.apiserver.k8s.io/v1beta3", 26))),
    RemovedAPI("autoscaling/v2beta2", ("HorizontalPodAutoscaler",), 26, (_r("autoscaling/v2", 23),)),
    # ---- v1.27
    RemovedAPI("storage.k8s.io/v1beta1", ("CSIStorageCapacity",), 27, (_r("storage.k8s.io/v1", 24),)),
    # ---- v1.29
    RemovedAPI("flowcontrol.apiserver.k8s.io/v1beta2", _FLOW, 29,
               (_r("flowcontrol.apiserver.k8s.io/v1", 29), _r("flowcontrol.apiserver.k8s.io/v1beta3", 26)),
               "spec.limited.assuredConcurrencyShares is renamed spec.limited.nominalConcurrencyShares"),
    # ---- v1.32
    RemovedAPI("flowcontrol.apiserver.k8s.io/v1beta3", _FLOW, 32, (_r("flowcontrol.apiserver.k8s.io/v1", 29),)),
    # ---- betas that were never on by default (so the guide leaves them out); the releases' OpenAPI drops them
    RemovedAPI("authentication.k8s.io/v1beta1", ("SelfSubjectReview",), 33, (_r("authentication.k8s.io/v1", 28),)),
    RemovedAPI("admissionregistration.k8s.io/v1beta1", ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"),
               34, (_r("admissionregistration.k8s.io/v1", 30),)),
    RemovedAPI("networking.k8s.io/v1beta1", ("IPAddress", "ServiceCIDR"), 37, (_r("networking.k8s.io/v1", 33),)),
    RemovedAPI("storage.k8s.io/v1beta1", ("VolumeAttributesClass",), 37, (_r("storage.k8s.io/v1", 34),)),
)

_BY_KEY: dict[tuple[str, str], RemovedAPI] = {
    (api.api_version, kind): api for api in REMOVED_APIS for kind in api.kinds
}


def removal(api_version: str, kind: str) -> RemovedAPI | None:
    """The removal of *kind* in *api_version*, if a release removed it."""
    return _BY_KEY.get((api_version, kind))


def served_since(api_version: str, kind: str) -> int | None:
    """The first 1.x minor serving *kind* in *api_version*, when the table knows it (as a replacement)."""
    firsts = [r.since for api in REMOVED_APIS if kind in api.kinds for r in api.replacements
              if r.api_version == api_version]
    return min(firsts) if firsts else None


def newest_removal() -> int:
    return max(api.removed_in for api in REMOVED_APIS)
