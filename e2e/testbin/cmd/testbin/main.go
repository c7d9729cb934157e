// Command testbin builds and caches the programs graphjob's end-to-end tests
// run (see package testbin), and prints the cache directory.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/graphjob/graphjob/e2e/testbin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := testbin.EnsureAll(ctx, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, _ := testbin.CacheDir()
	fmt.Println(dir)
}
