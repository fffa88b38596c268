package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/internal/teststore"
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

// TestServe runs `ppa serve` in-process on free loopback ports, asks for
// a forecast anchored by the app's clock, and stops it by cancelling.
func TestServe(t *testing.T) {
	dir, _ := teststore.SeasonalNaive(t)
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
