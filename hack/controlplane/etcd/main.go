// Command etcd is upstream etcd's own entry point, built from its server module
// because no prebuilt etcd binary can be downloaded on the machines this project
// is developed and tested on.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
