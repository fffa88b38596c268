package cli

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveStore writes a seasonal-naive model team-a/cpu into a new local
// store and returns its directory.
func serveStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	wasm := testwasm.Build(t, "./plugins/seasonalnaive/wasm")
	eng, err := engine.New(ctx, engine.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	p, err := eng.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	d := p.Description()
	meta, err := st.PutPlugin(ctx, store.PluginMeta{Name: d.Name, Version: d.Version, ABIVersion: abi.VersionString(p.ABIVersion()), Description: d}, wasm)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	n := 2 * 1440
	ts := make([]int64, n)
	ys := make([]float64, n)
	for i := range n {
		ts[i] = end.Add(-time.Duration(n-1-i) * time.Minute).UnixMilli()
		ys[i] = 100 + 50*math.Sin(2*math.Pi*float64(i%1440)/1440)
	}
	resp, err := p.Train(ctx, &abi.TrainRequest{Timestamps: ts, Values: ys})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.PutModel(ctx, store.Manifest{
		Model:   store.ModelRef{Namespace: "team-a", Name: "cpu"},
		Version: "v0001",
		Plugin:  store.PluginRef{Name: meta.Name, Version: meta.Version, SHA256: meta.SHA256},
		Data:    store.DataWindow{Source: "test", Start: time.UnixMilli(ts[0]), End: end, Step: store.Duration(time.Minute), Points: n},
		Gate:    store.Gate{Accepted: true},
	}, resp.Model)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestServe runs `ppa serve` in-process on free loopback ports, asks for
// a forecast anchored by the app's clock, and stops it by cancelling.
func TestServe(t *testing.T) {
	dir := serveStore(t)
	now := time.Date(2026, 3, 2, 8, 30, 45, 0, time.UTC)
	out, errs := &syncBuffer{}, &syncBuffer{}
	app := &App{Out: out, Err: errs, Now: func() time.Time { return now }, Getenv: func(string) string { return "" }}
	root := NewRootCommand(app)
	root.SetArgs([]string{"serve", "--store", dir, "--model", "team-a/cpu", "--listen-address", "127.0.0.1",
		"--http-port", "0", "--grpc-port", "0", "--poll-interval", "0", "--cache-dir", ""})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	re := regexp.MustCompile(`serving REST on (http://\S+) \(metrics on /metrics\), gRPC on (\S+)`)
	var base string
	deadline := time.Now().Add(time.Minute)
	for base == "" {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve returned early: %v\nstderr: %s", err, errs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address printed; stdout: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		resp, err := http.Get(base + "/v2/health/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready; stderr: %s", errs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Post(base+"/v2/models/cpu/infer", "application/json",
		strings.NewReader(`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[120]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Now is 08:30:45: the forecast starts at 08:30:00, the minute it is in.
	start := now.Truncate(time.Minute).Unix()
	want := `"data":[` + itoa(start) + `,` + itoa(start+60) + `,` + itoa(start+120) + `]`
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
		t.Fatalf("infer: %d %s; want ds %s", resp.StatusCode, b, want)
	}

	cancel()
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("serve after cancel: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute")
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
