// Package flagkit holds the command-line values that `ppa` and
// `ppa-trainer` share, so that both parse them one way and say the same
// thing about bad input: durations with a day suffix, --param name=value
// pairs, the log level, and the choice of a data source (a CSV file or
// Prometheus).
package flagkit

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
)

// Duration is a pflag.Value holding a non-negative duration in Go syntax
// with an optional day suffix ("14d", "1d12h", "90s"; see
// abi.ParseDuration).
type Duration time.Duration

// String implements pflag.Value, as FormatDuration.
func (d *Duration) String() string { return FormatDuration(time.Duration(*d)) }

// Set implements pflag.Value.
func (d *Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Type implements pflag.Value.
func (d *Duration) Type() string { return "duration" }

// ParseDuration parses a non-negative duration: "0", Go syntax, or with a
// day suffix.
func ParseDuration(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "0" {
		return 0, nil
	}
	d, err := abi.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("%s is negative", s)
	}
	return d, nil
}

// ParseDurationFlag parses the value v of --name: def when v is empty, an
// error naming the flag otherwise.
func ParseDurationFlag(name, v string, def time.Duration) (time.Duration, error) {
	if strings.TrimSpace(v) == "" {
		return def, nil
	}
	if strings.TrimSpace(v) == "0" {
		return 0, nil
	}
	d, err := abi.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("--%s %s: must not be negative", name, v)
	}
	return d, nil
}

// FormatDuration writes a duration as people type it: 14d, 1d6h, 90m →
// 1h30m, 5m, 1.5s; "0" for zero.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	const day = 24 * time.Hour
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	if d >= day {
		fmt.Fprintf(&b, "%dd", d/day)
		d %= day
		if d == 0 {
			return b.String()
		}
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	b.WriteString(s)
	return b.String()
}

// ParseParams turns repeated --param name=value flags into a map; nil for
// none. A flag without "=", an empty name or a name given twice is an
// error naming the flag.
func ParseParams(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	kv := make(map[string]string, len(flags))
	if err := AddParams(kv, "--param", flags); err != nil {
		return nil, err
	}
	return kv, nil
}

// AddParams adds name=value pairs given with the flag named flag to kv,
// refusing a pair without a name and a name given twice (also across
// flags); errors name the flag and the pair.
func AddParams(kv map[string]string, flag string, pairs []string) error {
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return fmt.Errorf("%s %q: want name=value", flag, p)
		}
		if _, dup := kv[name]; dup {
			return fmt.Errorf("%s %q: parameter %q given twice", flag, p, name)
		}
		kv[name] = value
	}
	return nil
}

// logLevels are the names --log-level takes.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// LogLevelNames lists the names ParseLogLevel takes, for help texts.
const LogLevelNames = "debug, info, warn or error"

// ParseLogLevel parses a --log-level value, in any case.
func ParseLogLevel(s string) (slog.Level, error) {
	l, ok := logLevels[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return 0, fmt.Errorf("--log-level %q: want %s", s, LogLevelNames)
	}
	return l, nil
}

// Source is the data a training reads, as the flags give it: a CSV file
// (Data) or a Prometheus query. PrometheusOnly names the Prometheus-only
// flags given on the command line (--history, --step, ...), which a CSV
// file must not come with.
type Source struct {
	Data                         string
	Prometheus, Query, Aggregate string
	PrometheusOnly               []string
}

// ErrNoSource is Source.Check's error when neither source is given.
var ErrNoSource = errors.New("no data: give --data FILE.csv or --prometheus URL --query PROMQL")

// Check validates the choice of source and reports whether it is the CSV
// file. Errors name the conflicting flags.
func (s Source) Check() (csv bool, err error) {
	switch {
	case s.Data != "" && s.Prometheus != "":
		return false, errors.New("--data and --prometheus: give one data source, not both")
	case s.Data != "":
		if s.Query != "" || s.Aggregate != "" {
			return false, errors.New("--query and --aggregate go with --prometheus, not --data")
		}
		if len(s.PrometheusOnly) > 0 {
			given := append([]string(nil), s.PrometheusOnly...)
			sort.Strings(given)
			verb := "goes"
			if len(given) > 1 {
				verb = "go"
			}
			return false, fmt.Errorf("--%s %s with --prometheus, not --data: a CSV file trains on all its rows at their own step", strings.Join(given, " and --"), verb)
		}
		return true, nil
	case s.Prometheus != "":
		if strings.TrimSpace(s.Query) == "" {
			return false, errors.New("--prometheus needs --query")
		}
		return false, nil
	}
	return false, ErrNoSource
}
