package testenv

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// PrometheusServer is a Prometheus server started by Prometheus for one
// test.
type PrometheusServer struct {
	// URL is the server's base URL, http://127.0.0.1:PORT, without a
	// trailing slash.
	URL string
	// Dir is the TSDB directory holding the backfilled blocks.
	Dir string

	mu   sync.Mutex
	proc *process
}

// prometheusConfig scrapes nothing: data come from backfilled blocks and
// remote write. The out-of-order window lets remote write add samples up to
// 6h older than the newest one.
const prometheusConfig = `global:
  scrape_interval: 1h
  evaluation_interval: 1h
storage:
  tsdb:
    out_of_order_time_window: 6h
`

// Prometheus backfills openMetrics (OpenMetrics text, see OpenMetrics;
// empty for none) with promtool into a fresh TSDB, then starts Prometheus
// on it on a free loopback port and waits until it is ready. The server
// keeps data for 100 years (retention counts back from the newest sample,
// so old backfilled history is kept), accepts remote write at
// /api/v1/write, and is stopped and reaped when the test ends.
//
// Backfilled blocks are loaded at start-up only; to add history, start
// another server. Query old data with query_range and explicit start/end
// (an instant query only looks 5 minutes back from its evaluation time).
func Prometheus(t testing.TB, openMetrics []byte) *PrometheusServer {
	t.Helper()
	bin := Binary(t, "prometheus")
	root := t.TempDir()
	s := &PrometheusServer{Dir: filepath.Join(root, "data")}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		t.Fatalf("testenv: prometheus: %v", err)
	}
	if len(openMetrics) > 0 {
		promtool := Binary(t, "promtool")
		in := filepath.Join(root, "history.om")
		if err := os.WriteFile(in, openMetrics, 0o644); err != nil {
			t.Fatalf("testenv: prometheus: write openmetrics: %v", err)
		}
		cmd := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", in, s.Dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("testenv: promtool tsdb create-blocks-from openmetrics: %v:\n%s", err, tail(string(out)))
		}
	}
	cfg := filepath.Join(root, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(prometheusConfig), 0o644); err != nil {
		t.Fatalf("testenv: prometheus: write config: %v", err)
	}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.proc == nil {
			return
		}
		if t.Failed() {
			t.Logf("prometheus log (tail):\n%s", tail(s.proc.log.String()))
		}
		s.proc.stop(stopTimeout)
		s.proc = nil
	})

	var err error
	for attempt := 0; attempt < 3; attempt++ {
		addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
		args := []string{
			"--config.file=" + cfg,
			"--storage.tsdb.path=" + s.Dir,
			"--storage.tsdb.retention.time=100y",
			"--web.listen-address=" + addr,
			"--web.enable-remote-write-receiver",
			"--web.enable-lifecycle",
			"--log.level=warn",
		}
		var p *process
		p, err = startProcess("prometheus", bin, args, nil, nil, root)
		if err != nil {
			break
		}
		s.URL = "http://" + addr
		if err = waitReady(p, s.URL+"/-/ready"); err == nil {
			s.mu.Lock()
			s.proc = p
			s.mu.Unlock()
			break
		}
		p.stop(0)
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("testenv: prometheus: %v", err)
	}
	return s
}

// Kill ends the server abruptly with SIGKILL and reaps it, so clients see
// connection errors at URL. Safe to call from any goroutine.
func (s *PrometheusServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop(0)
		s.proc = nil
	}
}

// OMSeries is one series for OpenMetricsOf.
type OMSeries struct {
	// Metric is the metric (family) name.
	Metric string
	// Labels are the series' labels; may be nil.
	Labels map[string]string
	// T holds sample times in Unix milliseconds, ascending.
	T []int64
	// Y holds the values; NaN rows are left out of the output.
	Y []float64
}

// OpenMetrics renders one gauge series as OpenMetrics text for Prometheus:
// timestamps ts (Unix milliseconds, ascending) are written in seconds, rows
// whose value is NaN are omitted, and the text ends with "# EOF".
func OpenMetrics(metric string, labels map[string]string, ts []int64, ys []float64) []byte {
	return OpenMetricsOf(OMSeries{Metric: metric, Labels: labels, T: ts, Y: ys})
}

// OpenMetricsOf renders several gauge series as OpenMetrics text. Series of
// the same metric are grouped under one "# TYPE" line, in the order the
// metrics first appear. It panics if a series' T and Y lengths differ or a
// metric or label name is invalid, which is a bug in the calling test.
func OpenMetricsOf(series ...OMSeries) []byte {
	var order []string
	byMetric := map[string][]OMSeries{}
	for _, s := range series {
		if len(s.T) != len(s.Y) {
			panic(fmt.Sprintf("testenv.OpenMetricsOf: %s: %d timestamps but %d values", s.Metric, len(s.T), len(s.Y)))
		}
		if !validName(s.Metric, false) {
			panic(fmt.Sprintf("testenv.OpenMetricsOf: invalid metric name %q", s.Metric))
		}
		if _, ok := byMetric[s.Metric]; !ok {
			order = append(order, s.Metric)
		}
		byMetric[s.Metric] = append(byMetric[s.Metric], s)
	}
	var b strings.Builder
	for _, m := range order {
		fmt.Fprintf(&b, "# TYPE %s gauge\n", m)
		for _, s := range byMetric[m] {
			prefix := s.Metric + formatLabels(s.Labels)
			for i, y := range s.Y {
				if math.IsNaN(y) {
					continue
				}
				b.WriteString(prefix)
				b.WriteByte(' ')
				b.WriteString(formatValue(y))
				b.WriteByte(' ')
				b.WriteString(formatMillis(s.T[i]))
				b.WriteByte('\n')
			}
		}
	}
	b.WriteString("# EOF\n")
	return []byte(b.String())
}

// formatLabels renders {a="x",b="y"} with names sorted, or "" for none.
func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	names := make([]string, 0, len(labels))
	for n := range labels {
		if !validName(n, true) {
			panic(fmt.Sprintf("testenv.OpenMetricsOf: invalid label name %q", n))
		}
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabelValue(labels[n]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelValueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabelValue(v string) string { return labelValueEscaper.Replace(v) }

// validName reports whether s is a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)
// or, with label set, a valid label name (no colons).
func validName(s string, label bool) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			(!label && r == ':') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// formatValue renders y as OpenMetrics expects (+Inf, -Inf, shortest
// round-tripping decimal otherwise).
func formatValue(y float64) string {
	switch {
	case math.IsInf(y, 1):
		return "+Inf"
	case math.IsInf(y, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(y, 'g', -1, 64)
}

// formatMillis renders Unix milliseconds as exact decimal seconds.
func formatMillis(ms int64) string {
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	sec, frac := ms/1000, ms%1000
	if frac == 0 {
		return sign + strconv.FormatInt(sec, 10)
	}
	return strings.TrimRight(fmt.Sprintf("%s%d.%03d", sign, sec, frac), "0")
}
