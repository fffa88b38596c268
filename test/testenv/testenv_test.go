package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

func TestOpenMetrics(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		in   []OMSeries
		want string
	}{
		{
			name: "no labels, NaN omitted, seconds",
			in:   []OMSeries{{Metric: "up", T: []int64{1000, 61000, 121500}, Y: []float64{1, nan, 2.5}}},
			want: "# TYPE up gauge\nup 1 1\nup 2.5 121.5\n# EOF\n",
		},
		{
			name: "labels sorted and escaped",
			in: []OMSeries{{Metric: "http_requests", Labels: map[string]string{"job": "a\"b", "code": `x\y` + "\n"},
				T: []int64{804556800000}, Y: []float64{42}}},
			want: "# TYPE http_requests gauge\nhttp_requests{code=\"x\\\\y\\n\",job=\"a\\\"b\"} 42 804556800\n# EOF\n",
		},
		{
			name: "infinities, small and large values, millisecond fractions",
			in:   []OMSeries{{Metric: "v", T: []int64{1001, 1010, 1100, 2000}, Y: []float64{math.Inf(1), math.Inf(-1), 1e-9, 12345678.5}}},
			want: "# TYPE v gauge\nv +Inf 1.001\nv -Inf 1.01\nv 1e-09 1.1\nv 1.23456785e+07 2\n# EOF\n",
		},
		{
			name: "series of one metric grouped under one TYPE",
			in: []OMSeries{
				{Metric: "a", Labels: map[string]string{"i": "1"}, T: []int64{0}, Y: []float64{1}},
				{Metric: "b", T: []int64{0}, Y: []float64{2}},
				{Metric: "a", Labels: map[string]string{"i": "2"}, T: []int64{0}, Y: []float64{3}},
			},
			want: "# TYPE a gauge\na{i=\"1\"} 1 0\na{i=\"2\"} 3 0\n# TYPE b gauge\nb 2 0\n# EOF\n",
		},
		{
			name: "empty",
			in:   nil,
			want: "# EOF\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(OpenMetricsOf(tc.in...)); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestOpenMetricsPanicsOnBadInput(t *testing.T) {
	tests := []struct {
		name string
		in   OMSeries
		want string
	}{
		{"length mismatch", OMSeries{Metric: "m", T: []int64{1, 2}, Y: []float64{1}}, "2 timestamps but 1 values"},
		{"bad metric", OMSeries{Metric: "1m"}, `invalid metric name "1m"`},
		{"bad label", OMSeries{Metric: "m", Labels: map[string]string{"a:b": "x"}, T: []int64{1}, Y: []float64{1}}, `invalid label name "a:b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil || !strings.Contains(r.(string), tc.want) {
					t.Errorf("panic %v, want one containing %q", r, tc.want)
				}
			}()
			OpenMetricsOf(tc.in)
		})
	}
}

func TestBucketName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	tests := []struct{ test, want string }{
		{"TestStore/Put_Get", "t-teststore-put-get-abcd"},
		{"Test__X", "t-test-x-abcd"},
		{"///", "t-abcd"},
		{strings.Repeat("Long", 30), "t-" + strings.Repeat("long", 14) + "-abcd"},
	}
	for _, tc := range tests {
		got := bucketName(tc.test, "abcd")
		if got != tc.want {
			t.Errorf("bucketName(%q) = %q, want %q", tc.test, got, tc.want)
		}
		if !valid.MatchString(got) {
			t.Errorf("bucketName(%q) = %q is not a valid bucket name", tc.test, got)
		}
	}
}

func TestLookBinary(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "ppa-fake-tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ppa-not-executable"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PPA_TEST_BIN", dir)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("PATH", t.TempDir())

	if got, err := LookBinary("ppa-fake-tool"); err != nil || got != exe {
		t.Errorf("LookBinary(ppa-fake-tool) = %q, %v; want %q", got, err, exe)
	}
	for _, name := range []string{"ppa-missing-tool", "ppa-not-executable"} {
		_, err := LookBinary(name)
		if err == nil || !strings.Contains(err.Error(), "install-deps.sh") || !strings.Contains(err.Error(), name) {
			t.Errorf("LookBinary(%s) error = %v, want a hint naming it and install-deps.sh", name, err)
		}
	}
	if got := BinDir(); got != dir {
		t.Errorf("BinDir() = %q, want %q", got, dir)
	}
}

// assertReaped fails unless pid no longer exists (a zombie still would).
func assertReaped(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still exists after stop (kill 0: %v)", pid, err)
	}
}

func TestPrometheus(t *testing.T) {
	const n = 500
	start := time.Date(1995, 7, 1, 0, 0, 0, 0, time.UTC)
	ts := make([]int64, n)
	ys := make([]float64, n)
	for i := range ts {
		ts[i] = start.Add(time.Duration(i) * time.Minute).UnixMilli()
		ys[i] = float64(i * 3)
		if i%100 >= 80 { // 20-minute gaps, longer than the 5m lookback
			ys[i] = math.NaN()
		}
	}
	p := Prometheus(t, OpenMetrics("ppa_test_load", map[string]string{"job": "web"}, ts, ys))
	pid := p.proc.cmd.Process.Pid

	client, err := api.NewClient(api.Config{Address: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	promAPI := v1.NewAPI(client)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	val, _, _, err := promAPI.QueryRange(ctx, `ppa_test_load{job="web"}`, v1.Range{
		Start: start, End: start.Add((n - 1) * time.Minute), Step: time.Minute,
	})
	if err != nil {
		t.Fatalf("query_range: %v", err)
	}
	m, ok := val.(model.Matrix)
	if !ok || len(m) != 1 {
		t.Fatalf("query_range answer %v, want one series", val)
	}
	got := map[int64]float64{}
	for _, s := range m[0].Values {
		got[int64(s.Timestamp)] = float64(s.Value)
	}
	// Prometheus (2.42 has no lookback_delta parameter) repeats the last
	// sample for up to 5 minutes; beyond that a gap has no points.
	const lookback = 5 * 60 * 1000
	last := -1
	for i := range ts {
		y, present := got[ts[i]]
		switch {
		case !math.IsNaN(ys[i]):
			last = i
			if !present || y != ys[i] {
				t.Errorf("row %d: got %v (present %v), want %v", i, y, present, ys[i])
			}
		case ts[i]-ts[last] < lookback:
			if !present || y != ys[last] {
				t.Errorf("row %d (in lookback): got %v (present %v), want %v", i, y, present, ys[last])
			}
		case ts[i]-ts[last] > lookback:
			if present {
				t.Errorf("row %d: got %v for a row %v after the last sample", i, y, time.Duration(ts[i]-ts[last])*time.Millisecond)
			}
		}
	}

	resp, err := http.Get(p.URL + "/-/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/-/ready: %s", resp.Status)
	}

	p.Kill()
	assertReaped(t, pid)
	if _, err := http.Get(p.URL + "/-/ready"); err == nil {
		t.Errorf("server still answers after Kill")
	}
	p.Kill() // idempotent
}

func TestPrometheusEmpty(t *testing.T) {
	p := Prometheus(t, nil)
	resp, err := http.Get(p.URL + "/api/v1/query?query=vector(7)")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"7"`)) {
		t.Errorf("query vector(7): %s %s", resp.Status, body)
	}
}

func TestPrometheusBadHistoryFails(t *testing.T) {
	// promtool rejects text without "# EOF"; the helper must fail the
	// test, which a fake testing.TB records.
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		Prometheus(ft, []byte("m 1 1\n"))
	}()
	if !strings.Contains(ft.msg, "promtool") {
		t.Errorf("fatal message %q, want one naming promtool", ft.msg)
	}
}

var errFatal = errors.New("fatal")

// fatalRecorder is a testing.TB whose Fatalf records the message and
// unwinds with a panic instead of stopping the real test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(errFatal)
}

func TestMinIO(t *testing.T) {
	s := MinIO(t)
	if s.AccessKey == "" || s.SecretKey == "" || !strings.HasPrefix(s.Endpoint, "127.0.0.1:") {
		t.Fatalf("server %+v lacks credentials or a loopback endpoint", s)
	}
	bucket := s.NewBucket(t)
	other := s.NewBucket(t)
	if bucket == other {
		t.Fatalf("NewBucket returned %q twice", bucket)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := s.Client(t)
	body := []byte("hello ppa")
	if _, err := c.PutObject(ctx, bucket, "a/b.txt", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put: %v", err)
	}
	get := func() ([]byte, error) {
		o, err := c.GetObject(ctx, bucket, "a/b.txt", minio.GetObjectOptions{})
		if err != nil {
			return nil, err
		}
		defer o.Close()
		return io.ReadAll(o)
	}

	// Restart keeps data, endpoint and credentials.
	pid := s.proc.cmd.Process.Pid
	s.Restart()
	assertReaped(t, pid)
	if got, err := get(); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("after restart: get = %q, %v; want %q", got, err, body)
	}

	// Kill makes the server unreachable until Restart.
	pid = s.proc.cmd.Process.Pid
	s.Kill()
	assertReaped(t, pid)
	// One try: minio-go would otherwise retry with backoff for seconds.
	once, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := once.BucketExists(ctx, bucket); err == nil {
		t.Fatalf("BucketExists succeeded on a killed server")
	}
	s.Kill() // idempotent
	s.Restart()
	if got, err := get(); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("after kill and restart: get = %q, %v; want %q", got, err, body)
	}

	// Wrong credentials are refused: the server really checks them.
	bad := &MinIOServer{Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: "wrong" + s.SecretKey}
	if _, err := bad.Client(t).BucketExists(ctx, bucket); err == nil {
		t.Errorf("BucketExists with a wrong secret key succeeded")
	}
	s.Stop()
	s.Stop() // idempotent
}

func TestMinIOCleanupReaps(t *testing.T) {
	var pid int
	t.Run("inner", func(t *testing.T) {
		s := MinIO(t)
		pid = s.proc.cmd.Process.Pid
	})
	assertReaped(t, pid)
}
