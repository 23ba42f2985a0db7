#!/usr/bin/env bash
# The kind path, for users with Docker: builds both images, creates a kind cluster, installs the
# chart and applies a sample CostPolicy. The project's own machines have no container engine, so
# this script is not run by the test suite (see the README, "Images").
#   bash hack/kind-up.sh            # create (or reuse) the cluster and install
#   KIND_CLUSTER=name TAG=dev bash hack/kind-up.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${KIND_CLUSTER:-agentmeter}"
TAG="${TAG:-dev}"
NAMESPACE="${NAMESPACE:-agentmeter}"
OPERATOR_IMAGE="agentmeter/operator:${TAG}"
AGENT_IMAGE="agentmeter/node-agent:${TAG}"

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || { echo "[kind-up] $tool is required" >&2; exit 1; }
done
HELM="$(bash hack/ensure-helm.sh)"

echo "[kind-up] building $OPERATOR_IMAGE and $AGENT_IMAGE"
docker build -f operator/Dockerfile -t "$OPERATOR_IMAGE" .
docker build -f node-agent/Dockerfile -t "$AGENT_IMAGE" .

if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config hack/kind/cluster.yaml --wait 120s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$AGENT_IMAGE"

# The agent needs hostPID and hostPath mounts, which only the "privileged" Pod Security level allows.
kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$NAMESPACE" --overwrite pod-security.kubernetes.io/enforce=privileged

"$HELM" upgrade --install agentmeter charts/agentmeter --namespace "$NAMESPACE" --wait --timeout 5m \
  --set operator.image.repository=agentmeter/operator --set operator.image.tag="$TAG" \
  --set operator.image.pullPolicy=Never \
  --set agent.image.repository=agentmeter/node-agent --set agent.image.tag="$TAG" \
  --set agent.image.pullPolicy=Never

kubectl apply -f crds/samples/platform-default.yaml
kubectl -n "$NAMESPACE" rollout status daemonset/agentmeter-agent --timeout 120s
kubectl -n "$NAMESPACE" rollout status deployment/agentmeter-operator --timeout 120s
kubectl get costpolicies
echo "[kind-up] done: kubectl --context kind-$CLUSTER get costpolicies -w"
