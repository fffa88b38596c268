// Command ppa is the Predictive Pod Autoscaler's command line: forecast a
// CSV series with a plugin, inspect and verify plugins, and run PPA's
// pieces locally. See `ppa --help`; the commands live in host/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ppa-autoscaler/ppa/host/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
