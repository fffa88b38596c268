package promsource

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// lookback is Prometheus's default lookback delta: a grid point takes the
// newest sample at most this old.
const lookback = 5 * time.Minute

// expectAt returns what Prometheus answers for a plain selector of s at
// time t (Unix ms): the newest sample within the lookback, NaN if there is
// none. ambiguous is set when that sample is exactly lookback old, where
// Prometheus 2.x includes it and 3.x does not.
func expectAt(s *series.Series, t int64) (y float64, ambiguous bool) {
	i := sort.Search(len(s.T), func(i int) bool { return s.T[i] > t }) - 1
	for ; i >= 0 && t-s.T[i] <= lookback.Milliseconds(); i-- {
		if !math.IsNaN(s.Y[i]) {
			return s.Y[i], t-s.T[i] == lookback.Milliseconds()
		}
	}
	return math.NaN(), false
}

// sameFloat compares two values where NaN equals NaN.
func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// TestPrometheusServer runs Fetch and Instant against a real Prometheus
// holding 14 days of the NASA HTTP trace (1-minute requests, with the
// July log's end and the Hurricane Erin outage as gaps) as
// nasa_http_requests{instance="a"}, and a second series
// nasa_http_requests{instance="b"} = 2 during the first day only.
func TestPrometheusServer(t *testing.T) {
	nasa, err := series.ReadFile("../../testdata/traces/nasa-http-1m-14d.csv")
	if err != nil {
		t.Fatal(err)
	}
	const n, day = 20160, 1440
	if nasa.Len() != n || nasa.Step() != time.Minute {
		t.Fatalf("testdata: %d rows every %v, want %d every minute", nasa.Len(), nasa.Step(), n)
	}
	twos := make([]float64, day)
	for i := range twos {
		twos[i] = 2
	}
	b := &series.Series{T: nasa.T[:day], Y: twos}
	prom := testenv.Prometheus(t, testenv.OpenMetricsOf(
		testenv.OMSeries{Metric: "nasa_http_requests", Labels: map[string]string{"instance": "a"}, T: nasa.T, Y: nasa.Y},
		testenv.OMSeries{Metric: "nasa_http_requests", Labels: map[string]string{"instance": "b"}, T: b.T, Y: b.Y},
	))
	const selA = `nasa_http_requests{instance="a"}`
	first, last := nasa.Time(0), nasa.Time(n-1)
	ctx := context.Background()

	t.Run("14 days in chunks", func(t *testing.T) {
		tests := []struct {
			name       string
			maxPoints  int
			start, end time.Time
			step       time.Duration
			points     int
			chunks     int
		}{
			{"default chunks", 0, first, last, time.Minute, n, 2},
			{"small chunks", 3000, first, last, time.Minute, n, 7},
			{"one chunk", 11000, first, nasa.Time(10999), time.Minute, 11000, 1},
			{"5m step off the sample grid", 0, first.Add(30 * time.Second), last, 5 * time.Minute, 4032, 1},
			{"7s step, 4 days", 0, first, first.Add(4 * 24 * time.Hour), 7 * time.Second, 49372, 5},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := newTestSource(t, Config{URL: prom.URL, MaxPointsPerQuery: tc.maxPoints})
				var reports []Progress
				got, err := s.Fetch(ctx, selA, tc.start, tc.end, tc.step, WithProgress(func(p Progress) { reports = append(reports, p) }))
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if got.Len() != tc.points {
					t.Fatalf("%d points, want %d", got.Len(), tc.points)
				}
				if len(reports) != tc.chunks || reports[len(reports)-1].Points != tc.points || reports[len(reports)-1].Samples != got.Valid() {
					t.Errorf("progress %+v, want %d chunks covering %d points", reports, tc.chunks, tc.points)
				}
				wantValid, mismatches := 0, 0
				for i := range got.T {
					wantT := tc.start.Add(time.Duration(i) * tc.step).UnixMilli()
					want, ambiguous := expectAt(nasa, wantT)
					if !math.IsNaN(want) {
						wantValid++
					}
					if got.T[i] != wantT || !ambiguous && !sameFloat(got.Y[i], want) {
						if mismatches++; mismatches <= 5 {
							t.Errorf("point %d = (%s, %v), want (%s, %v)", i, got.Time(i).Format(time.RFC3339), got.Y[i],
								time.UnixMilli(wantT).UTC().Format(time.RFC3339), want)
						}
					}
				}
				if mismatches > 0 {
					t.Errorf("%d of %d points differ", mismatches, got.Len())
				}
				// Both gaps (July log end, Hurricane Erin) stay missing:
				// 4,948 + 2,265 missing minutes minus those the lookback
				// bridges. The ambiguous edge points make this a range.
				if tc.step == time.Minute && tc.points == n {
					if v := got.Valid(); v < wantValid-2 || v > wantValid {
						t.Errorf("%d valid points, want %d (give or take the 2 gap edges)", v, wantValid)
					}
					if nan := n - got.Valid(); nan < 7213-2*5 {
						t.Errorf("only %d missing points; the gaps were filled", nan)
					}
				}
			})
		}
	})

	t.Run("chunks over the server's limit are refused", func(t *testing.T) {
		// The reason for chunking: 20,160 points in one query exceed
		// Prometheus's 11,000 points per series.
		s := newTestSource(t, Config{URL: prom.URL, MaxPointsPerQuery: n})
		_, err := s.Fetch(ctx, selA, first, last, time.Minute)
		var e *Error
		if !errors.As(err, &e) || e.Transient || !strings.Contains(err.Error(), "exceeded maximum resolution of 11,000 points") {
			t.Fatalf("Fetch error = %v, want Prometheus's resolution limit, not retried", err)
		}
	})

	t.Run("several series are an error", func(t *testing.T) {
		s := newTestSource(t, Config{URL: prom.URL})
		_, err := s.Fetch(ctx, "nasa_http_requests", first, last, time.Minute)
		if err == nil || !strings.Contains(err.Error(), `instance="a"`) || !strings.Contains(err.Error(), `instance="b"`) ||
			!strings.Contains(err.Error(), "returned 2 series") {
			t.Fatalf("Fetch error = %v, want one naming both series", err)
		}
		// Where only one of them has data, the query is fine.
		got, err := s.Fetch(ctx, "nasa_http_requests", nasa.Time(2*day), last, time.Minute)
		if err != nil || got.Len() != n-2*day {
			t.Fatalf("Fetch from day 3: %v", err)
		}
	})

	t.Run("aggregation", func(t *testing.T) {
		tests := []struct {
			agg  Aggregation
			want func(a float64) float64
		}{
			{Sum, func(a float64) float64 { return a + 2 }},
			{Max, func(a float64) float64 { return math.Max(a, 2) }},
			{Min, func(a float64) float64 { return math.Min(a, 2) }},
			{Avg, func(a float64) float64 { return (a + 2) / 2 }},
		}
		s := newTestSource(t, Config{URL: prom.URL, MaxPointsPerQuery: 400})
		const points = day - 10 // where both series have data
		for _, tc := range tests {
			t.Run(string(tc.agg), func(t *testing.T) {
				got, err := s.Fetch(ctx, "nasa_http_requests", first, nasa.Time(points-1), time.Minute, WithAggregate(tc.agg))
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if got.Len() != points {
					t.Fatalf("%d points, want %d", got.Len(), points)
				}
				for i, y := range got.Y {
					if want := tc.want(nasa.Y[i]); y != want {
						t.Fatalf("point %d = %v, want %v", i, y, want)
					}
				}
			})
		}
	})

	t.Run("query errors", func(t *testing.T) {
		tests := []struct {
			name   string
			query  string
			want   string
			noData bool
		}{
			{"parse error", "sum(nasa_http_requests", "bad_data: ", false},
			{"execution error", `nasa_http_requests + on() group_left nasa_http_requests`, "execution: ", false},
			{"unknown metric", "no_such_metric", "no data", true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				clock := &fakeClock{}
				s := newTestSource(t, Config{URL: prom.URL, Clock: clock})
				_, err := s.Fetch(ctx, tc.query, first, nasa.Time(100), time.Minute)
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.query) {
					t.Fatalf("Fetch error = %v, want one containing %q and the query", err, tc.want)
				}
				if errors.Is(err, ErrNoData) != tc.noData {
					t.Errorf("errors.Is(%v, ErrNoData) = %v", err, !tc.noData)
				}
				var e *Error
				if !tc.noData && (!errors.As(err, &e) || e.Transient || e.Attempts != 1 || e.Status/100 != 4) {
					t.Errorf("error %+v, want a permanent 4xx error after one attempt", e)
				}
				if len(clock.Sleeps()) != 0 {
					t.Errorf("retried a bad query: waits %v", clock.Sleeps())
				}
			})
		}
	})

	t.Run("transient failures are retried", func(t *testing.T) {
		target, err := url.Parse(prom.URL)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		var calls atomic.Int32
		flaky := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Every other request fails, so each chunk needs a retry.
			if calls.Add(1)%2 == 1 {
				http.Error(w, "upstream overloaded", http.StatusServiceUnavailable)
				return
			}
			proxy.ServeHTTP(w, r)
		})
		srv := newLoopbackServer(t, flaky)
		clock := &fakeClock{}
		s := newTestSource(t, Config{URL: srv, Clock: clock, InitialBackoff: time.Second})
		got, err := s.Fetch(ctx, selA, first, last, time.Minute)
		if err != nil {
			t.Fatalf("Fetch: %v", err)
		}
		direct, err := newTestSource(t, Config{URL: prom.URL}).Fetch(ctx, selA, first, last, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got.Y {
			if !sameFloat(got.Y[i], direct.Y[i]) {
				t.Fatalf("point %d = %v through the flaky proxy, %v directly", i, got.Y[i], direct.Y[i])
			}
		}
		if calls.Load() != 4 || !equalDurations(clock.Sleeps(), []time.Duration{time.Second, time.Second}) {
			t.Errorf("%d requests, waits %v; want 4 requests and two 1s waits (one per chunk)", calls.Load(), clock.Sleeps())
		}
	})

	t.Run("unreachable server", func(t *testing.T) {
		// A port nobody listens on: connection refused on every attempt.
		closed := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
		clock := &fakeClock{}
		s := newTestSource(t, Config{URL: closed, Clock: clock, Retries: 3})
		_, err := s.Fetch(ctx, selA, first, last, time.Minute)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("Fetch error = %v, want a connection refused *Error", err)
		}
		if e.Attempts != 4 || !e.Transient || !strings.Contains(err.Error(), "gave up after 4 attempts") ||
			!strings.Contains(err.Error(), "chunk 1 of 2") {
			t.Errorf("error %q (%+v), want 4 attempts on chunk 1 of 2", err, e)
		}
		want := []time.Duration{DefaultInitialBackoff, 2 * DefaultInitialBackoff, 4 * DefaultInitialBackoff}
		if !equalDurations(clock.Sleeps(), want) {
			t.Errorf("waits %v, want %v", clock.Sleeps(), want)
		}
	})

	t.Run("instant", func(t *testing.T) {
		gap := time.Date(1995, 7, 30, 12, 0, 0, 0, time.UTC)
		tests := []struct {
			name  string
			query string
			at    time.Time
			opts  []Option
			want  float64
			err   string
		}{
			{"sample", selA, nasa.Time(100), nil, nasa.Y[100], ""},
			{"clock's now", selA, time.Time{}, nil, nasa.Y[200], ""},
			{"sum", "nasa_http_requests", nasa.Time(300), []Option{WithAggregate(Sum)}, nasa.Y[300] + 2, ""},
			{"several series", "nasa_http_requests", nasa.Time(300), nil, 0, "returned 2 series"},
			{"inside a gap", selA, gap, nil, 0, "no data"},
			{"bad query", "rate(nasa_http_requests)", nasa.Time(300), nil, 0, "bad_data: "},
		}
		s := newTestSource(t, Config{URL: prom.URL, Clock: &fakeClock{now: nasa.Time(200)}})
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				y, err := s.Instant(ctx, tc.query, tc.at, tc.opts...)
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
	})

	t.Run("server killed", func(t *testing.T) {
		prom.Kill()
		s := newTestSource(t, Config{URL: prom.URL, Retries: -1})
		_, err := s.Instant(ctx, selA, nasa.Time(100))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("Instant on a killed server: %v, want connection refused", err)
		}
	})
}

// newLoopbackServer serves h on a free loopback port until the test ends
// and returns its URL.
func newLoopbackServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
