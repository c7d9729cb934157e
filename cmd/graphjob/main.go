package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// main turns signals into the runner's two stages: the first SIGTERM or
// Ctrl-C drains, the second cancels.
func main() {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	drain := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-signals
		close(drain)
		<-signals
		cancel()
	}()
	code := execute(ctx, drain, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
