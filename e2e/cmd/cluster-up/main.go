// Command cluster-up starts what the end-to-end tests use — a real control
// plane, a process kubelet and a MinIO server with a bucket, all on
// 127.0.0.1 — prints how to reach them, and keeps them running until
// interrupted, for poking at by hand:
//
//	make cluster-up
//	export KUBECONFIG=...   # as printed
//	kubectl create job hello --image=e2e/shell:1 -- sh -c 'echo hello'
//
// Images: e2e/shell:1 runs /bin/sh; graphjob:dev runs bin/graphjob (make build).
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/graphjob/graphjob/e2e/controlplane"
	"github.com/graphjob/graphjob/e2e/kubelet"
	"github.com/graphjob/graphjob/e2e/minio"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster-up:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cp, err := controlplane.Start(ctx, controlplane.Options{})
	if err != nil {
		return err
	}
	defer cp.Stop()
	graphjob, err := filepath.Abs("bin/graphjob")
	if err != nil {
		return err
	}
	u, _ := url.Parse(cp.Config.Host)
	kl, err := kubelet.Start(ctx, cp.Client, kubelet.Options{
		APIServer: u.Host,
		Images: map[string]kubelet.Image{
			"e2e/shell:1":  {Executable: "/bin/sh"},
			"graphjob:dev": {Executable: graphjob},
		},
	})
	if err != nil {
		return err
	}
	defer kl.Stop()
	store, err := minio.Start(ctx, "", os.Stderr)
	if err != nil {
		return err
	}
	defer store.Stop()
	if err := store.CreateBucket(ctx, "graphjob"); err != nil {
		return err
	}
	fmt.Printf("export KUBECONFIG=%s\n", cp.Kubeconfig)
	for _, kv := range store.Env() {
		fmt.Printf("export %s\n", kv)
	}
	fmt.Printf("export GRAPHJOB_STORE='%s'\n", store.URL("graphjob"))
	fmt.Printf("alias kubectl=%s\n", cp.Kubectl)
	fmt.Printf("# logs of the servers: %s/*.log; Ctrl-C stops everything\n", cp.Dir)
	<-ctx.Done()
	return nil
}
