# Pinned versions of the test control plane. Kubernetes 1.36 is built upstream with Go 1.26, the
# toolchain these machines carry; etcd 3.6.8 is the version its go.mod pins for the client.
K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
GO_MIN=1.26.0
