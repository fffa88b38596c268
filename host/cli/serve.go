package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ppa-autoscaler/ppa/host/runtime"
)

// newServeCmd builds `ppa serve`: the inference runtime of cmd/ppa-runtime
// (Open Inference Protocol v2 over REST and gRPC), for people.
func newServeCmd(app *App, out io.Writer) *cobra.Command {
	opts := runtime.NewOptions()
	cmd := &cobra.Command{
		Use:   "serve (--store DIR|s3://BUCKET/PREFIX --model NAMESPACE/NAME[@VERSION]... | --model-dir DIR)",
		Short: "Serve forecasts of trained models over the Open Inference Protocol v2 (REST and gRPC)",
		Long: `serve runs PPA's inference runtime, the same server as the ppa-runtime image
that KServe starts: REST (with /metrics) on --http-port and gRPC on
--grpc-port, answering the Open Inference Protocol v2. It serves the models
named with --model from --store, following each model's newest accepted
version (checked every --poll-interval), or the model version found in
--model-dir. A request asks for "horizon" seconds ahead of "start" (default
now) at "step" seconds (default the model's training step); see
host/runtime/README.md for the tensors. Stop it with Ctrl-C.`,
		Example: `  ppa serve --store ./store --model default/cpu --http-port 8080 --grpc-port 8081
  curl -s localhost:8080/v2/models/cpu/infer -d '{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[3600]}]}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.CacheDir = app.CacheDir
			opts.Logger = app.Logger()
			opts.Now = app.Now
			opts.Started = func(httpAddr, grpcAddr string) {
				fmt.Fprintf(out, "serving REST on http://%s (metrics on /metrics), gRPC on %s\n", httpAddr, grpcAddr)
			}
			return runtime.Run(cmd.Context(), opts)
		},
	}
	// The runtime's flags, except --cache-dir, which is ppa's global flag.
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	opts.AddFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "cache-dir" {
			cmd.Flags().AddFlag(f)
		}
	})
	return cmd
}
