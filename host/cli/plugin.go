package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/conformance"
	"github.com/ppa-autoscaler/ppa/host/engine"
)

func newPluginCmd(app *App, out io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Inspect and verify forecaster plugins",
		Long: `A forecaster plugin is a WebAssembly module implementing the PPA plugin
ABI (abi/SPEC.md). Commands take a built-in plugin name or a path to a .wasm
file.`,
	}
	cmd.AddCommand(newPluginVerifyCmd(app, out), newPluginInspectCmd(app, out), newPluginListCmd(app, out), newPluginPushCmd(app, out))
	return cmd
}

// PluginVerifyOptions are the flags of `ppa plugin verify`.
type PluginVerifyOptions struct {
	// Plugin is a built-in name or a .wasm path.
	Plugin string
	// Format is text or json.
	Format string
	// Timeout bounds the whole run, CheckTimeout each check that calls the
	// plugin; after a check runs out of time the rest fail without running.
	Timeout, CheckTimeout time.Duration
}

// Defaults of `ppa plugin verify`.
const (
	DefaultVerifyTimeout      = 3 * time.Minute
	DefaultVerifyCheckTimeout = 30 * time.Second
)

func newPluginVerifyCmd(app *App, out io.Writer) *cobra.Command {
	o := &PluginVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify PATH.wasm|NAME",
		Short: "Run the conformance suite on a plugin",
		Long: `verify runs the plugin conformance suite: exports and signatures, ABI
version, self-description, train/predict round trips on generated series,
output shape, determinism and the handling of bad input. It prints one line
per check and exits non-zero when any check fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Plugin = args[0]
			return o.Run(cmd.Context(), app, out)
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", "text", "output format: text or json")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", DefaultVerifyTimeout, "time limit of the whole run")
	cmd.Flags().DurationVar(&o.CheckTimeout, "check-timeout", DefaultVerifyCheckTimeout, "time limit of each check that calls the plugin; after one runs out, the rest fail without running")
	return cmd
}

// Run verifies the plugin and writes the report to w. It returns an error
// when the plugin does not conform.
func (o *PluginVerifyOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	if o.Format != "text" && o.Format != formatJSON {
		return fmt.Errorf("--format %q: want text or json", o.Format)
	}
	if o.Timeout <= 0 || o.CheckTimeout <= 0 {
		return fmt.Errorf("--timeout %s and --check-timeout %s: want positive durations", o.Timeout, o.CheckTimeout)
	}
	wasm, err := app.PluginBytes(o.Plugin)
	if err != nil {
		return err
	}
	// One instance, so that the checks after bad input run on the very
	// instance that received it.
	e, err := app.NewEngine(ctx, func(c engine.Config) engine.Config { return c.WithPoolSize(1) })
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	rctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	r := conformance.Run(rctx, e, wasm, conformance.WithCheckTimeout(o.CheckTimeout))
	if o.Format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Passed bool `json:"passed"`
			conformance.Report
		}{r.Passed(), r}); err != nil {
			return err
		}
	} else if err := r.WriteText(w); err != nil {
		return err
	}
	if !r.Passed() {
		failed := r.Failed()
		names := make([]string, len(failed))
		for i, c := range failed {
			names[i] = c.Name
		}
		return fmt.Errorf("plugin %s does not conform: %d of %d checks did not pass (%s)", o.Plugin, len(failed), len(r.Results), strings.Join(names, ", "))
	}
	return nil
}

// PluginInspectOptions are the flags of `ppa plugin inspect`.
type PluginInspectOptions struct {
	// Plugin is a built-in name or a .wasm path.
	Plugin string
	// Format is table or json.
	Format string
}

func newPluginInspectCmd(app *App, out io.Writer) *cobra.Command {
	o := &PluginInspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect PATH.wasm|NAME",
		Short: "Show a plugin's digest, ABI version, size and self-description",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Plugin = args[0]
			return o.Run(cmd.Context(), app, out)
		},
	}
	cmd.Flags().StringVar(&o.Format, "format", formatTable, "output format: table or json")
	return cmd
}

// PluginInfo is what `ppa plugin inspect --format json` prints.
type PluginInfo struct {
	SHA256     string `json:"sha256"`
	ABIVersion string `json:"abi_version"`
	Size       int    `json:"size"`
	// Run says how this build runs the plugin (engine.RunMode): its own
	// built-ins in-process, any other in a sandboxed worker process.
	Run         string          `json:"run"`
	Description abi.Description `json:"description"`
}

// Run loads the plugin and writes its information to w.
func (o *PluginInspectOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	if err := checkTableOrJSON(o.Format); err != nil {
		return err
	}
	wasm, err := app.PluginBytes(o.Plugin)
	if err != nil {
		return err
	}
	e, err := app.NewEngine(ctx, func(c engine.Config) engine.Config { return c.WithPoolSize(1) })
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	p, err := e.Load(ctx, wasm, "")
	if err != nil {
		return fmt.Errorf("plugin %s: %w", o.Plugin, err)
	}
	defer p.Close(ctx)
	info := PluginInfo{
		SHA256:      p.Digest(),
		ABIVersion:  abi.VersionString(p.ABIVersion()),
		Size:        len(wasm),
		Run:         string(p.RunMode()),
		Description: p.Description(),
	}
	if o.Format == formatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	return writePluginInfo(w, &info)
}

func writePluginInfo(w io.Writer, info *PluginInfo) error {
	d := &info.Description
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\n", d.Name)
	fmt.Fprintf(tw, "version\t%s\n", d.Version)
	if d.Description != "" {
		fmt.Fprintf(tw, "description\t%s\n", oneLine(d.Description))
	}
	fmt.Fprintf(tw, "sha256\t%s\n", info.SHA256)
	fmt.Fprintf(tw, "abi version\t%s\n", info.ABIVersion)
	fmt.Fprintf(tw, "size\t%d bytes\n", info.Size)
	fmt.Fprintf(tw, "runs\t%s\n", info.Run)
	fmt.Fprintf(tw, "intervals\t%t\n", d.Capabilities.Intervals)
	fmt.Fprintf(tw, "min points\t%d\n", d.Capabilities.MinPoints)
	if len(d.Capabilities.Columns) > 0 {
		fmt.Fprintf(tw, "columns\t%s\n", strings.Join(d.Capabilities.Columns, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Parameters) == 0 {
		_, err := fmt.Fprintln(w, "\nparameters: none")
		return err
	}
	fmt.Fprintln(w, "\nparameters:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tDEFAULT\tDESCRIPTION")
	for _, p := range d.Parameters {
		def := "-"
		if p.Default != nil {
			b, err := json.Marshal(p.Default)
			if err != nil {
				return fmt.Errorf("parameter %q: default: %w", p.Name, err)
			}
			def = string(b)
		}
		desc := p.Description
		if len(p.Enum) > 0 {
			desc = strings.TrimSpace(desc + " (one of " + strings.Join(p.Enum, ", ") + ")")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Name, p.Type, def, oneLine(desc))
	}
	return tw.Flush()
}

// PluginListOptions are the flags of `ppa plugin list`.
type PluginListOptions struct {
	// storeFlags, when --store is set, list a store's plugins (train.go).
	storeFlags
}

func newPluginListCmd(app *App, out io.Writer) *cobra.Command {
	o := &PluginListOptions{}
	cmd := &cobra.Command{
		Use:   "list [--store DIR|s3://BUCKET/PREFIX]",
		Short: "List the built-in plugins, or with --store the plugins in a store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Store != "" {
				return listStorePlugins(cmd.Context(), app, &o.storeFlags, out)
			}
			return o.Run(cmd.Context(), app, out)
		},
	}
	o.storeFlags.register(cmd, false)
	return cmd
}

// Run loads every built-in plugin and prints its name, version and digest.
func (o *PluginListOptions) Run(ctx context.Context, app *App, w io.Writer) error {
	names := app.builtinNames()
	if len(names) == 0 {
		_, err := fmt.Fprintln(w, "no built-in plugins: run `make plugins` and rebuild ppa")
		return err
	}
	e, err := app.NewEngine(ctx, func(c engine.Config) engine.Config { return c.WithPoolSize(1) })
	if err != nil {
		return err
	}
	defer e.Close(ctx)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tSHA256\tDESCRIPTION")
	for _, n := range names {
		p, err := app.LoadPlugin(ctx, e, n)
		if err != nil {
			return err
		}
		d := p.Description()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n, d.Version, p.Digest()[:12], oneLine(d.Description))
		if err := p.Close(ctx); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
