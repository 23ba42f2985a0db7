// Command etcd is the upstream etcd server, built from the Go module proxy at the version the
// pinned Kubernetes release is tested with. It does what upstream server/main.go does.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
