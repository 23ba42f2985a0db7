// The configuration files of the real test node, as plain data from its layout: containerd,
// the kubelet, kube-proxy, the bridge CNI network and CoreDNS. Everything a component writes is
// placed under the node's state directory; the settings this VM needs are explained where set.
import { join } from 'node:path';

/** Where everything of one node lives, and its addresses. */
export interface NodeLayout {
  readonly dir: string;
  readonly nodeName: string;
  /** The node's InternalIP: a TEST-NET address on a veth link of its own, bound by the apiserver too. */
  readonly nodeAddress: string;
  readonly clusterCidr: string;
  readonly serviceCidr: string;
  readonly clusterDns: string;
  readonly clusterDomain: string;
  readonly pauseImage: string;
  readonly runc: string;
  readonly cniBinDir: string;
  readonly kubeletHealthzPort: number;
  readonly kubeProxyHealthzPort: number;
  readonly kubeProxyMetricsPort: number;
}

export const paths = (dir: string) => ({
  containerdConfig: join(dir, 'containerd', 'config.toml'),
  containerdRoot: join(dir, 'containerd', 'root'),
  containerdState: join(dir, 'containerd', 'state'),
  containerdTemp: join(dir, 'containerd', 'tmp'),
  containerdOpt: join(dir, 'containerd', 'opt'),
  containerdSocket: join(dir, 'containerd', 'containerd.sock'),
  runcRoot: join(dir, 'runc'),
  cniConfDir: join(dir, 'cni', 'net.d'),
  cniIpamDir: join(dir, 'cni', 'ipam'),
  kubeletRoot: join(dir, 'kubelet'),
  kubeletCerts: join(dir, 'kubelet-pki'),
  kubeletConfig: join(dir, 'config', 'kubelet.yaml'),
  kubeletKubeconfig: join(dir, 'config', 'kubelet.kubeconfig'),
  kubeletVolumePlugins: join(dir, 'kubelet-volume-plugins'),
  podLogs: join(dir, 'pod-logs'),
  podResourcesSocket: join(dir, 'kubelet', 'pod-resources', 'kubelet.sock'),
  kubeProxyConfig: join(dir, 'config', 'kube-proxy.yaml'),
  kubeProxyKubeconfig: join(dir, 'config', 'kube-proxy.kubeconfig'),
  controllerManagerKubeconfig: join(dir, 'config', 'kube-controller-manager.kubeconfig'),
  schedulerKubeconfig: join(dir, 'config', 'kube-scheduler.kubeconfig'),
  flexVolumeDir: join(dir, 'kcm-flexvolume'),
  nodeCaCert: join(dir, 'pki', 'node-ca.crt'),
  nodeCaKey: join(dir, 'pki', 'node-ca.key'),
  kubeletClientCert: join(dir, 'pki', 'apiserver-kubelet-client.crt'),
  kubeletClientKey: join(dir, 'pki', 'apiserver-kubelet-client.key'),
});

const toml = (s: string): string => JSON.stringify(s);

/** containerd 2.4 (config schema 4), with every directory and socket under the state dir. */
export function containerdConfig(layout: NodeLayout): string {
  const p = paths(layout.dir);
  return `version = 4
root = ${toml(p.containerdRoot)}
state = ${toml(p.containerdState)}
temp = ${toml(p.containerdTemp)}
# NRI would open a socket under /var/run/nri; nothing here uses it.
disabled_plugins = ["io.containerd.nri.v1.nri"]

# Since containerd 2.4 the servers are plugins; a top-level [grpc] table is ignored.
[plugins.'io.containerd.server.v1.grpc']
  address = ${toml(p.containerdSocket)}

[plugins.'io.containerd.server.v1.ttrpc']
  address = ${toml(`${p.containerdSocket}.ttrpc`)}

[plugins.'io.containerd.internal.v1.opt']
  path = ${toml(p.containerdOpt)}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  # No registry is reachable: the sandbox image is imported beforehand and never pulled.
  sandbox = ${toml(layout.pauseImage)}

[plugins.'io.containerd.cri.v1.runtime']
  # This VM's bounding set lacks CAP_SYS_RESOURCE, so nothing may lower oom_score_adj below
  # containerd's own; without this every sandbox fails to start.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = "runc"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  disable_pause_image_pull = true

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  BinaryName = ${toml(layout.runc)}
  Root = ${toml(p.runcRoot)}
  SystemdCgroup = false

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = [${toml(layout.cniBinDir)}]
  conf_dir = ${toml(p.cniConfDir)}
`;
}

/** A kubeconfig authenticating with a static token. */
export function tokenKubeconfig(server: string, caFile: string, user: string, token: string) {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'agentmeter-node', cluster: { server, 'certificate-authority': caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'agentmeter-node', user } }],
    'current-context': user,
  };
}

export function kubeletConfig(layout: NodeLayout) {
  const p = paths(layout.dir);
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: layout.nodeAddress,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: layout.kubeletHealthzPort,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      // The apiserver's client certificate (exec, logs, node proxy) is signed by this CA.
      x509: { clientCAFile: p.nodeCaCert },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${p.containerdSocket}`,
    // No systemd on these machines; the hierarchies are cgroup v1, which the kubelet refuses
    // since 1.35 unless told otherwise.
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    failSwapOn: false,
    // Nothing here may lower oom_score_adj below 0 (no CAP_SYS_RESOURCE in the bounding set).
    oomScoreAdj: 0,
    clusterDNS: [layout.clusterDns],
    clusterDomain: layout.clusterDomain,
    resolvConf: '/etc/resolv.conf',
    podLogsDir: p.podLogs,
    volumePluginDir: p.kubeletVolumePlugins,
    // Images are imported, never pulled: garbage collection must not remove them, and a busy
    // shared disk must not evict the test pods.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
    },
    serializeImagePulls: false,
    // The fault suites kill containers again and again; with the default back-off (10 s doubling
    // to 5 min) twenty restarts would take over an hour. One second, every time.
    crashLoopBackOff: { maxContainerRestartPeriod: '1s' },
    rotateCertificates: false,
    serverTLSBootstrap: false,
  };
}

export function kubeProxyConfig(layout: NodeLayout) {
  const p = paths(layout.dir);
  return {
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig: p.kubeProxyKubeconfig },
    hostnameOverride: layout.nodeName,
    mode: 'iptables',
    clusterCIDR: layout.clusterCidr,
    bindAddress: '127.0.0.1',
    healthzBindAddress: `127.0.0.1:${layout.kubeProxyHealthzPort}`,
    metricsBindAddress: `127.0.0.1:${layout.kubeProxyMetricsPort}`,
    // NodePorts answer on the node's own address only, not on the machine's other interfaces.
    nodePortAddresses: [`${layout.nodeAddress}/32`],
    oomScoreAdj: 0,
    // Zero leaves the host's conntrack sysctls as they are.
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: '0s',
      tcpCloseWaitTimeout: '0s',
    },
    // false leaves net.ipv4.conf.all.route_localnet alone.
    iptables: {
      localhostNodePorts: false,
      masqueradeAll: false,
      syncPeriod: '30s',
      minSyncPeriod: '1s',
    },
  };
}

/**
 * The bridge network: pods on cni0 with addresses from the node's pod CIDR, a route to the
 * Service range and to the node only, and no masquerading, so pod traffic stays on this machine
 * and no rule matches more than the cluster's own ranges.
 */
export function cniConflist(layout: NodeLayout, podCidr: string) {
  const p = paths(layout.dir);
  return {
    cniVersion: '1.0.0',
    name: 'agentmeter',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: podCidr }]],
          routes: [{ dst: layout.serviceCidr }, { dst: `${layout.nodeAddress}/32` }],
          dataDir: p.cniIpamDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}
