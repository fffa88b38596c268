// Command ppa-runtime is PPA's KServe custom serving runtime: the Open
// Inference Protocol v2 over REST (--http-port, default 8080) and gRPC
// (--grpc-port, default 8081), forecasting with WebAssembly plugins. See
// host/runtime/README.md for the tensors.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/ppa-autoscaler/ppa/host/runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	opts := runtime.NewOptions()
	opts.Version = version
	fs := pflag.NewFlagSet("ppa-runtime", pflag.ContinueOnError)
	opts.AddFlags(fs)
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "ppa-runtime:", err)
		os.Exit(2)
	}
	opts.Logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runtime.Run(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "ppa-runtime:", err)
		os.Exit(1)
	}
}
