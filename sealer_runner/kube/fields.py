"""The fields kubeadm, the kubelet and kube-proxy know, by kind and API version.

kubeadm decodes its configuration strictly: an unknown or misspelt field is an error, not a silent
default. The Clusterfile's kubeadm documents are checked against these trees before any host is
touched, so the error names the Clusterfile's line instead of a host's kubeadm output.

A tree maps each known key to what its value may hold:
``ANY`` (a scalar, or data kubeadm passes through such as a map of flags), a nested tree (a
mapping), or ``[tree]`` (a list of mappings). Sources: the Go types of kubeadm
(``cmd/kubeadm/app/apis/kubeadm/v1beta{2,3,4}/types.go``), the kubelet
(``k8s.io/kubelet/config/v1beta1``) and kube-proxy (``k8s.io/kube-proxy/config/v1alpha1``).
The kubelet and kube-proxy trees list top-level fields only, their nested values pass as they are.
"""

from __future__ import annotations

from typing import Any, Union

ANY = None
Tree = dict[str, Any]
Node = Union[None, Tree, list[Tree]]

_META = {"apiVersion": ANY, "kind": ANY}

# ---------------------------------------------------------------------------------------------- kubeadm


def _kubeadm(api: str) -> dict[str, Tree]:
    """The kubeadm kinds' trees for one API version (v1beta2, v1beta3, v1beta4)."""
    beta4 = api == "v1beta4"
    args = [{"name": ANY, "value": ANY}] if beta4 else ANY  # v1beta4 turned flag maps into lists
    env = {"extraEnvs": [{"name": ANY, "value": ANY, "valueFrom": ANY}]} if beta4 else {}
    volumes = [{"name": ANY, "hostPath": ANY, "mountPath": ANY, "readOnly": ANY, "pathType": ANY}]
    component = {"extraArgs": args, "extraVolumes": volumes, **env}
    taint = [{"key": ANY, "value": ANY, "effect": ANY, "timeAdded": ANY}]
    registration: Tree = {"name": ANY, "criSocket": ANY, "taints": taint, "kubeletExtraArgs": args,
                          "ignorePreflightErrors": ANY}
    if api != "v1beta2":
        registration["imagePullPolicy"] = ANY
    if beta4:
        registration["imagePullSerial"] = ANY
    endpoint = {"advertiseAddress": ANY, "bindPort": ANY}
    token = [{"token": ANY, "description": ANY, "ttl": ANY, "expires": ANY, "usages": ANY, "groups": ANY}]
    timeouts = {"controlPlaneComponentHealthCheck": ANY, "kubeletHealthCheck": ANY, "kubernetesAPICall": ANY,
                "etcdAPICall": ANY, "tlsBootstrap": ANY, "discovery": ANY, "upgradeManifests": ANY}
    patches = {"directory": ANY}
    init: Tree = {**_META, "bootstrapTokens": token, "nodeRegistration": registration,
                  "localAPIEndpoint": endpoint, "certificateKey": ANY}
    join: Tree = {**_META, "nodeRegistration": registration, "caCertPath": ANY,
                  "discovery": {"bootstrapToken": {"token": ANY, "apiServerEndpoint": ANY, "caCertHashes": ANY,
                                                   "unsafeSkipCAVerification": ANY},
                                "file": {"kubeConfigPath": ANY}, "tlsBootstrapToken": ANY},
                  "controlPlane": {"localAPIEndpoint": endpoint, "certificateKey": ANY}}
    api_server: Tree = {**component, "certSANs": ANY}
    etcd_local: Tree = {"imageRepository": ANY, "imageTag": ANY, "dataDir": ANY, "extraArgs": args,
                        "serverCertSANs": ANY, "peerCertSANs": ANY, **env}
    cluster: Tree = {
        **_META,
        "etcd": {"local": etcd_local,
                 "external": {"endpoints": ANY, "caFile": ANY, "certFile": ANY, "keyFile": ANY}},
        "networking": {"serviceSubnet": ANY, "podSubnet": ANY, "dnsDomain": ANY},
        "kubernetesVersion": ANY, "controlPlaneEndpoint": ANY, "apiServer": api_server,
        "controllerManager": dict(component), "scheduler": dict(component),
        "dns": {"imageRepository": ANY, "imageTag": ANY}, "certificatesDir": ANY, "imageRepository": ANY,
        "featureGates": ANY, "clusterName": ANY,
    }
    if api == "v1beta2":
        cluster["useHyperKubeImage"] = ANY
        cluster["dns"]["type"] = ANY
    if api != "v1beta4":
        api_server["timeoutForControlPlane"] = ANY
        join["discovery"]["timeout"] = ANY
    if api != "v1beta2":
        init["skipPhases"] = ANY
        init["patches"] = patches
        join["skipPhases"] = ANY
        join["patches"] = patches
    kinds = {"InitConfiguration": init, "ClusterConfiguration": cluster, "JoinConfiguration": join}
    if beta4:
        init["timeouts"] = timeouts
        init["dryRun"] = ANY
        join["timeouts"] = timeouts
        join["dryRun"] = ANY
        cluster["dns"]["disabled"] = ANY
        cluster["proxy"] = {"disabled": ANY}
        cluster["encryptionAlgorithm"] = ANY
        cluster["certificateValidityPeriod"] = ANY
        cluster["caCertificateValidityPeriod"] = ANY
        kinds["ResetConfiguration"] = {**_META, "cleanupTmpDir": ANY, "certificatesDir": ANY, "criSocket": ANY,
                                       "dryRun": ANY, "force": ANY, "ignorePreflightErrors": ANY,
                                       "skipPhases": ANY, "unmountFlags": ANY, "timeouts": timeouts}
        kinds["UpgradeConfiguration"] = {**_META, "apply": ANY, "diff": ANY, "node": ANY, "plan": ANY,
                                         "timeouts": timeouts}
    return kinds


# ---------------------------------------------------------------------------------------- kubelet / proxy

_KUBELET = (
    "enableServer staticPodPath podLogsDir syncFrequency fileCheckFrequency httpCheckFrequency staticPodURL "
    "staticPodURLHeader address port readOnlyPort tlsCertFile tlsPrivateKeyFile tlsCipherSuites tlsMinVersion "
    "rotateCertificates serverTLSBootstrap authentication authorization registryPullQPS registryBurst "
    "imagePullCredentialsVerificationPolicy preloadedImagesVerificationAllowlist eventRecordQPS eventBurst "
    "enableDebuggingHandlers enableContentionProfiling healthzPort healthzBindAddress oomScoreAdj clusterDomain "
    "clusterDNS streamingConnectionIdleTimeout nodeStatusUpdateFrequency nodeStatusReportFrequency "
    "nodeLeaseDurationSeconds imageMinimumGCAge imageMaximumGCAge imageGCHighThresholdPercent "
    "imageGCLowThresholdPercent volumeStatsAggPeriod kubeletCgroups systemCgroups cgroupRoot cgroupsPerQOS "
    "cgroupDriver cpuManagerPolicy singleProcessOOMKill cpuManagerPolicyOptions cpuManagerReconcilePeriod "
    "memoryManagerPolicy topologyManagerPolicy topologyManagerScope topologyManagerPolicyOptions qosReserved "
    "runtimeRequestTimeout hairpinMode maxPods podCIDR podPidsLimit resolvConf runOnce cpuCFSQuota "
    "cpuCFSQuotaPeriod nodeStatusMaxImages maxOpenFiles contentType kubeAPIQPS kubeAPIBurst serializeImagePulls "
    "maxParallelImagePulls evictionHard evictionSoft evictionSoftGracePeriod evictionPressureTransitionPeriod "
    "evictionMaxPodGracePeriod evictionMinimumReclaim mergeDefaultEvictionSettings podsPerCore "
    "enableControllerAttachDetach protectKernelDefaults makeIPTablesUtilChains iptablesMasqueradeBit "
    "iptablesDropBit featureGates failSwapOn memorySwap containerLogMaxSize containerLogMaxFiles "
    "containerLogMaxWorkers containerLogMonitorInterval configMapAndSecretChangeDetectionStrategy systemReserved "
    "kubeReserved reservedSystemCPUs showHiddenMetricsForVersion systemReservedCgroup kubeReservedCgroup "
    "enforceNodeAllocatable allowedUnsafeSysctls volumePluginDir providerID kernelMemcgNotification logging "
    "enableSystemLogHandler enableSystemLogQuery shutdownGracePeriod shutdownGracePeriodCriticalPods "
    "shutdownGracePeriodByPodPriority crashLoopBackOff reservedMemory enableProfilingHandler "
    "enableDebugFlagsHandler seccompDefault memoryThrottlingFactor registerWithTaints registerNode tracing "
    "localStorageCapacityIsolation containerRuntimeEndpoint imageServiceEndpoint failCgroupV1 userNamespaces"
)
_PROXY = (
    "featureGates bindAddress healthzBindAddress metricsBindAddress bindAddressHardFail enableProfiling "
    "showHiddenMetricsForVersion mode clientConnection iptables ipvs nftables winkernel linux windows "
    "detectLocalMode detectLocal clusterCIDR nodePortAddresses oomScoreAdj conntrack configSyncPeriod "
    "portRange hostnameOverride logging udpIdleTimeout"
)
_PROXY_IPVS = "syncPeriod minSyncPeriod scheduler excludeCIDRs strictARP tcpTimeout tcpFinTimeout udpTimeout"

KUBELET_API = "kubelet.config.k8s.io/v1beta1"
PROXY_API = "kubeproxy.config.k8s.io/v1alpha1"

#: (apiVersion, kind) -> tree.
TREES: dict[tuple[str, str], Tree] = {
    **{(f"kubeadm.k8s.io/{api}", kind): tree for api in ("v1beta2", "v1beta3", "v1beta4")
       for kind, tree in _kubeadm(api).items()},
    (KUBELET_API, "KubeletConfiguration"): {**_META, **dict.fromkeys(_KUBELET.split())},
    (PROXY_API, "KubeProxyConfiguration"): {**_META, **dict.fromkeys(_PROXY.split()),
                                            "ipvs": dict.fromkeys(_PROXY_IPVS.split())},
}


def tree_for(api_version: str, kind: str) -> Tree | None:
    return TREES.get((api_version, kind))
