# Pinned versions of the test control plane. Kubernetes 1.36 is built upstream with Go 1.26, the
# toolchain these machines carry; etcd 3.6.8 is the version its go.mod pins for the client.
K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
GO_MIN=1.26.0

# Pinned versions of the real test node (hack/build-node.sh): containerd 2.4 is the first release
# line with config version 4; runc 1.5 and CNI plugins 1.10 are the releases it is tested with.
CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.5.3
CNI_PLUGINS_VERSION=v1.10.0
CRICTL_VERSION=v1.37.0
COREDNS_VERSION=v1.15.0

# Upstream Prometheus for the cluster suite's Kubernetes service discovery (hack/build-prometheus.sh);
# Prometheus 3.x is published on the Go module proxy as v0.3xx.y.
PROMETHEUS_VERSION=3.16.0
PROMETHEUS_MODULE_VERSION=v0.316.0
