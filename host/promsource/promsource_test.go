package promsource

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock returns a fixed time and records the waits asked of it
// without sleeping.
type fakeClock struct {
	now time.Time

	mu     sync.Mutex
	sleeps []time.Duration
	// onSleep, if set, runs inside Sleep (e.g. to cancel the context).
	onSleep func()
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	if c.onSleep != nil {
		c.onSleep()
	}
	return ctx.Err()
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// promAPI is a fake Prometheus HTTP API: handle decides each answer.
type promAPI struct {
	mu       sync.Mutex
	requests []*http.Request
	forms    []map[string]string
	handle   func(n int, form map[string]string) (status int, body string)
}

func (p *promAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form := map[string]string{"path": r.URL.Path}
	for k := range r.Form {
		form[k] = r.Form.Get(k)
	}
	p.mu.Lock()
	p.requests = append(p.requests, r)
	p.forms = append(p.forms, form)
	n := len(p.requests)
	p.mu.Unlock()
	status, body := p.handle(n, form)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func (p *promAPI) Forms() []map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]string(nil), p.forms...)
}

func (p *promAPI) Requests() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.requests...)
}

// vectorBody is a successful instant query answer with one sample.
func vectorBody(v string) string {
	return `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"` + v + `"]}]}}`
}

// rangeEcho answers query_range with one series holding value t (in
// seconds) at every grid point from start to end, plus the extra points (in
// seconds) that fall within one step of the asked range, repeated as a
// server aligning queries to the step would.
func rangeEcho(extra ...float64) func(int, map[string]string) (int, string) {
	return func(_ int, form map[string]string) (int, string) {
		start, _ := strconv.ParseFloat(form["start"], 64)
		end, _ := strconv.ParseFloat(form["end"], 64)
		step, _ := strconv.ParseFloat(form["step"], 64)
		var pts []string
		for ts := start; ts <= end+1e-9; ts += step {
			pts = append(pts, fmt.Sprintf(`[%g,"%g"]`, ts, ts))
		}
		for _, ts := range extra {
			if ts >= start-step-1e-9 && ts <= end+step+1e-9 {
				pts = append(pts, fmt.Sprintf(`[%g,"%g"]`, ts, ts))
			}
		}
		return 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"x"},"values":[` + strings.Join(pts, ",") + `]}]}}`
	}
}

func newTestSource(t *testing.T, cfg Config) *Source {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"minimal", Config{URL: "http://prom:9090"}, ""},
		{"prefix and token file", Config{URL: "https://prom/prometheus", BearerTokenFile: tokenFile}, ""},
		{"basic auth", Config{URL: "http://prom", BasicAuthUser: "u", BasicAuthPasswordFile: tokenFile}, ""},
		{"empty url", Config{}, "want http(s)://"},
		{"no scheme", Config{URL: "prom:9090"}, "want http(s)://"},
		{"ftp", Config{URL: "ftp://prom"}, "want http(s)://"},
		{"two bearer sources", Config{URL: "http://p", BearerToken: "a", BearerTokenFile: tokenFile}, "mutually exclusive"},
		{"bearer and basic", Config{URL: "http://p", BearerToken: "a", BasicAuthUser: "u"}, "mutually exclusive"},
		{"two passwords", Config{URL: "http://p", BasicAuthUser: "u", BasicAuthPassword: "a", BasicAuthPasswordFile: tokenFile}, "mutually exclusive"},
		{"password without user", Config{URL: "http://p", BasicAuthPassword: "a"}, "without a user"},
		{"missing token file", Config{URL: "http://p", BearerTokenFile: filepath.Join(dir, "nope")}, "no such file"},
		{"empty token file", Config{URL: "http://p", BearerTokenFile: emptyFile}, "is empty"},
		{"missing ca", Config{URL: "https://p", TLSCAFile: filepath.Join(dir, "nope")}, "tls ca file"},
		{"ca without certificates", Config{URL: "https://p", TLSCAFile: notPEM}, "no PEM certificates"},
		{"negative timeout", Config{URL: "http://p", Timeout: -time.Second}, "negative"},
		{"negative points", Config{URL: "http://p", MaxPointsPerQuery: -1}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFetchChunksAndDeduplicates(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name      string
		points    int // grid points from start, step 10s
		maxPoints int
		extra     []float64 // extra off-chunk points each answer repeats
		chunks    int
	}{
		{"one chunk", 5, 0, nil, 1},
		{"exact multiple", 9, 3, nil, 3},
		{"remainder", 10, 3, nil, 4},
		{"single point", 1, 3, nil, 1},
		// The server repeats a point of the neighbouring chunk (as a
		// server aligning to the step may): the first answer wins.
		{"duplicated boundaries", 10, 3, []float64{1030, 1060}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &promAPI{handle: rangeEcho(tc.extra...)}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			s := newTestSource(t, Config{URL: srv.URL, MaxPointsPerQuery: tc.maxPoints})
			var progress []Progress
			end := start.Add(time.Duration(tc.points-1) * 10 * time.Second)
			got, err := s.Fetch(context.Background(), "up", start, end, 10*time.Second,
				WithProgress(func(p Progress) { progress = append(progress, p) }))
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got.Len() != tc.points {
				t.Fatalf("got %d points, want %d", got.Len(), tc.points)
			}
			for i := range got.T {
				wantT := start.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
				if got.T[i] != wantT || got.Y[i] != float64(wantT)/1000 {
					t.Errorf("point %d = (%d, %v), want (%d, %v)", i, got.T[i], got.Y[i], wantT, float64(wantT)/1000)
				}
			}
			if len(fake.Forms()) != tc.chunks || len(progress) != tc.chunks {
				t.Fatalf("%d requests, %d progress reports; want %d chunks", len(fake.Forms()), len(progress), tc.chunks)
			}
			last := progress[len(progress)-1]
			if last != (Progress{Chunk: tc.chunks, Chunks: tc.chunks, Points: tc.points, TotalPoints: tc.points, Samples: tc.points}) {
				t.Errorf("last progress %+v", last)
			}
			// Chunks are contiguous and disjoint on the grid.
			next := float64(start.Unix())
			for i, f := range fake.Forms() {
				if f["path"] != "/api/v1/query_range" || f["query"] != "up" || f["step"] != "10" {
					t.Errorf("request %d: %v", i, f)
				}
				if s, _ := strconv.ParseFloat(f["start"], 64); s != next {
					t.Errorf("request %d starts at %v, want %v", i, s, next)
				}
				e, _ := strconv.ParseFloat(f["end"], 64)
				next = e + 10
			}
		})
	}
}

func TestFetchErrorsFromAnswers(t *testing.T) {
	matrix := func(series ...string) string {
		return `{"status":"success","data":{"resultType":"matrix","result":[` + strings.Join(series, ",") + `]}}`
	}
	tests := []struct {
		name string
		body string
		want string
	}{
		{"several series", matrix(`{"metric":{"pod":"a"},"values":[[1000,"1"]]}`, `{"metric":{"pod":"b"},"values":[[1000,"2"]]}`),
			`returned 2 series ({pod="a"}, {pod="b"}); use WithAggregate`},
		{"off grid", matrix(`{"metric":{},"values":[[1005,"1"]]}`), "is off the grid"},
		{"no samples", matrix(), "no data"},
		{"only NaN", matrix(`{"metric":{},"values":[[1000,"NaN"]]}`), "no data"},
		{"not a matrix", vectorBody("1"), "answer of type vector, want a matrix"},
		{"histograms", matrix(`{"metric":{"le":"x"},"histograms":[[1000,{"count":"1","sum":"1","buckets":[]}]]}`), "native histograms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(&promAPI{handle: func(int, map[string]string) (int, string) { return 200, tc.body }})
			defer srv.Close()
			s := newTestSource(t, Config{URL: srv.URL})
			_, err := s.Fetch(context.Background(), "up", time.Unix(1000, 0), time.Unix(1060, 0), 10*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch error = %v, want one containing %q", err, tc.want)
			}
			if tc.want == "no data" && !errors.Is(err, ErrNoData) {
				t.Errorf("error %v does not wrap ErrNoData", err)
			}
		})
	}
}

func TestFetchRejectsBadArguments(t *testing.T) {
	s := newTestSource(t, Config{URL: "http://127.0.0.1:1"})
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		query string
		start time.Time
		end   time.Time
		step  time.Duration
		opts  []Option
		want  string
	}{
		{"empty query", " ", t0, t0, time.Second, nil, "empty query"},
		{"zero step", "up", t0, t0, 0, nil, "step 0s"},
		{"sub-millisecond step", "up", t0, t0, 1500 * time.Microsecond, nil, "whole number of milliseconds"},
		{"end before start", "up", t0, t0.Add(-time.Second), time.Second, nil, "before start"},
		{"too many points", "up", t0, t0.Add(MaxFetchPoints * time.Second), time.Second, nil, "more than 10000000 points"},
		{"unknown aggregation", "up", t0, t0, time.Second, []Option{WithAggregate("median")}, `aggregation "median"`},
		{"negative lookback", "up", t0, t0, time.Second, []Option{WithLookbackDelta(-time.Second)}, "negative lookback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Fetch(context.Background(), tc.query, tc.start, tc.end, tc.step, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Fetch error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	apiError := `{"status":"error","errorType":"bad_data","error":"1:4: parse error: unclosed left parenthesis"}`
	tests := []struct {
		name      string
		answers   []int // status of each answer; 200 = success
		retries   int
		wantErr   string // "" = success
		wantTries int
		transient bool
	}{
		{"503 then success", []int{503, 503, 200}, 0, "", 3, false},
		{"429 is retried", []int{429, 200}, 0, "", 2, false},
		{"500s until retries run out", []int{500, 500, 500, 500}, 3, "(gave up after 4 attempts): server_error: server error: 500: boom", 4, true},
		{"bad query is not retried", []int{400}, 0, "bad_data: 1:4: parse error: unclosed left parenthesis", 1, false},
		{"401 is not retried and shows the body", []int{401}, 0, "client_error: client error: 401: boom", 1, false},
		{"no retries", []int{503}, -1, "server error: 503", 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &promAPI{handle: func(n int, _ map[string]string) (int, string) {
				switch code := tc.answers[min(n, len(tc.answers))-1]; code {
				case 200:
					return 200, vectorBody("42")
				case 400:
					return 400, apiError
				default:
					return code, "boom"
				}
			}}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			clock := &fakeClock{now: time.Unix(5000, 0)}
			s := newTestSource(t, Config{URL: srv.URL, Clock: clock, Retries: tc.retries,
				InitialBackoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond})
			y, err := s.Instant(context.Background(), "up", time.Time{})
			if got := len(fake.Requests()); got != tc.wantTries {
				t.Errorf("%d requests, want %d", got, tc.wantTries)
			}
			wantSleeps := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}[:tc.wantTries-1]
			if !equalDurations(clock.Sleeps(), wantSleeps) {
				t.Errorf("slept %v, want %v", clock.Sleeps(), wantSleeps)
			}
			if tc.wantErr == "" {
				if err != nil || y != 42 {
					t.Fatalf("Instant = %v, %v; want 42", y, err)
				}
				if f := fake.Forms()[0]; f["time"] != "5000" {
					t.Errorf("zero time sent as %q, want the clock's 5000", f["time"])
				}
				return
			}
			var e *Error
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &e) {
				t.Fatalf("Instant error = %v, want an *Error containing %q", err, tc.wantErr)
			}
			if e.Attempts != tc.wantTries || e.Transient != tc.transient || e.Op != "query" || e.Query != "up" {
				t.Errorf("error %+v", e)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	srv := httptest.NewServer(&promAPI{handle: func(int, map[string]string) (int, string) { return 503, "busy" }})
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &fakeClock{onSleep: cancel}
	s := newTestSource(t, Config{URL: srv.URL, Clock: clock, Retries: 5})
	_, err := s.Instant(ctx, "up", time.Unix(1, 0))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "server error: 503") {
		t.Fatalf("error = %v, want context.Canceled naming the last failure", err)
	}
	if n := len(clock.Sleeps()); n != 1 {
		t.Errorf("%d waits, want 1", n)
	}
}

func TestInstantAnswers(t *testing.T) {
	tests := []struct {
		name string
		body string
		want float64
		err  string
	}{
		{"vector", vectorBody("3.5"), 3.5, ""},
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}`, 7, ""},
		{"empty", `{"status":"success","data":{"resultType":"vector","result":[]}}`, 0, "no data"},
		{"NaN", vectorBody("NaN"), 0, "value is NaN: no data"},
		{"several", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}`,
			0, `returned 2 series ({a="1"}, {a="2"})`},
		{"matrix", `{"status":"success","data":{"resultType":"matrix","result":[]}}`, 0, "want a scalar or an instant vector"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(&promAPI{handle: func(int, map[string]string) (int, string) { return 200, tc.body }})
			defer srv.Close()
			s := newTestSource(t, Config{URL: srv.URL})
			y, err := s.Instant(context.Background(), "up", time.Unix(1, 0))
			if tc.err == "" {
				if err != nil || y != tc.want {
					t.Errorf("Instant = %v, %v; want %v", y, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Instant error = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestQueryParameters(t *testing.T) {
	fake := &promAPI{handle: func(int, map[string]string) (int, string) { return 200, vectorBody("1") }}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := newTestSource(t, Config{URL: srv.URL + "/prefix", Timeout: 90 * time.Second})
	if _, err := s.Instant(context.Background(), `rate(x[5m])`, time.UnixMilli(1500),
		WithAggregate(Max), WithLookbackDelta(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	f := fake.Forms()[0]
	want := map[string]string{"path": "/prefix/api/v1/query", "query": "max(rate(x[5m]))", "time": "1.5", "timeout": "1m30s", "lookback_delta": "1m30s"}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %q, want %q (form %v)", k, f[k], v, f)
		}
	}
}

func TestAuthentication(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	pwFile := filepath.Join(dir, "password")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(tokenFile, "first-token\n")
	write(pwFile, "s3cret\n")

	tests := []struct {
		name   string
		cfg    Config
		rotate func() // runs between the two requests
		want   []string
	}{
		{"bearer token", Config{BearerToken: "abc"}, nil, []string{"Bearer abc", "Bearer abc"}},
		{"bearer token file is re-read", Config{BearerTokenFile: tokenFile},
			func() { write(tokenFile, "second-token") }, []string{"Bearer first-token", "Bearer second-token"}},
		{"basic auth password file", Config{BasicAuthUser: "ppa", BasicAuthPasswordFile: pwFile}, nil,
			[]string{"Basic cHBhOnMzY3JldA==", "Basic cHBhOnMzY3JldA=="}},
		{"basic auth password", Config{BasicAuthUser: "ppa", BasicAuthPassword: "pw"}, nil,
			[]string{"Basic cHBhOnB3", "Basic cHBhOnB3"}},
		{"none", Config{}, nil, []string{"", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &promAPI{handle: func(int, map[string]string) (int, string) { return 200, vectorBody("1") }}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			cfg := tc.cfg
			cfg.URL = srv.URL
			cfg.Headers = map[string]string{"X-Scope-OrgID": "tenant-1"}
			s := newTestSource(t, cfg)
			for i := range 2 {
				if i == 1 && tc.rotate != nil {
					tc.rotate()
				}
				if _, err := s.Instant(context.Background(), "up", time.Unix(1, 0)); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			for i, r := range fake.Requests() {
				if got := r.Header.Get("Authorization"); got != tc.want[i] {
					t.Errorf("request %d: Authorization %q, want %q", i, got, tc.want[i])
				}
				if got := r.Header.Get("X-Scope-OrgID"); got != "tenant-1" {
					t.Errorf("request %d: X-Scope-OrgID %q", i, got)
				}
			}
		})
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(&promAPI{handle: func(int, map[string]string) (int, string) { return 200, vectorBody("5") }})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemCert(srv.Certificate().Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		err  string
	}{
		{"ca file", Config{TLSCAFile: caFile}, ""},
		{"insecure skip verify", Config{TLSInsecureSkipVerify: true}, ""},
		{"unknown authority is not retried", Config{}, "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			cfg := tc.cfg
			cfg.URL, cfg.Clock = srv.URL, clock
			s := newTestSource(t, cfg)
			y, err := s.Instant(context.Background(), "up", time.Unix(1, 0))
			if tc.err == "" {
				if err != nil || y != 5 {
					t.Errorf("Instant = %v, %v; want 5", y, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.err) || e.Transient || len(clock.Sleeps()) != 0 {
				t.Errorf("Instant error = %v (%+v, waits %v), want a permanent one containing %q", err, e, clock.Sleeps(), tc.err)
			}
		})
	}
}

// pemCert encodes a DER certificate as PEM.
func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
