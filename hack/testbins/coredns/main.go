// Command coredns is upstream CoreDNS with only the plugins the real test node's Corefile uses
// (hack/real-node/coredns.ts). Upstream's main links every plugin, cloud DNS back ends included,
// which nearly doubles the packages a cold build compiles on these 2-core machines. It does what
// upstream coredns.go does.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
