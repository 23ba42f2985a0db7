// Command kube-controller-manager is the upstream controller manager, built from the Go module
// proxy for the real-node tests. It mirrors cmd/kube-controller-manager/controller-manager.go.
package main

import (
	"os"
	// CronJob time zones need the zone database even where the host has none.
	_ "time/tzdata"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
