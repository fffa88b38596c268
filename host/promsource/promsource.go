// Package promsource reads a metric's history and current value from
// Prometheus (or any server speaking its HTTP query API).
//
// Fetch runs query_range over a long window in chunks that stay under the
// server's per-query point limit, stitches them onto the regular grid
// start, start+step, ..., end, and marks grid points without a sample as
// missing (NaN); Instant evaluates a query at one time for the scaler's
// reactive value. Transient failures (connection errors, timeouts, 5xx,
// 429) are retried with exponential backoff; a bad query is reported at
// once with Prometheus's own message.
//
// PromQL's lookback: Prometheus carries a series' last sample forward for
// up to its lookback delta (5 minutes by default), so a gap in the data
// shows up as missing only after that. WithLookbackDelta shortens it on
// servers that support the lookback_delta parameter (Prometheus 2.43+).
package promsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/ppa-autoscaler/ppa/host/series"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultTimeout bounds one HTTP request (one chunk, one attempt).
	DefaultTimeout = 2 * time.Minute
	// DefaultRetries is how many times a transient failure is retried.
	DefaultRetries = 4
	// DefaultInitialBackoff is the wait before the first retry; it doubles
	// on each further retry.
	DefaultInitialBackoff = 500 * time.Millisecond
	// DefaultMaxBackoff caps the wait between retries.
	DefaultMaxBackoff = 30 * time.Second
	// DefaultMaxPointsPerQuery keeps each query_range under Prometheus's
	// limit of 11,000 points per series.
	DefaultMaxPointsPerQuery = 11000
)

// MaxFetchPoints bounds the grid of one Fetch (19 years at one minute), so a
// mistyped step cannot exhaust memory.
const MaxFetchPoints = 10_000_000

// ErrNoData reports that a query matched no samples at all.
var ErrNoData = errors.New("no data")

// Clock is the source's view of time: the current time for Instant and
// the waits between retries. Tests pass a fake to run without sleeping.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Config configures a Source. Only URL is required.
type Config struct {
	// URL is the server's base URL, e.g. http://prometheus:9090 (a path
	// prefix such as /prometheus is kept).
	URL string
	// Timeout bounds each HTTP request and is also sent to the server as
	// the query timeout. Zero means DefaultTimeout.
	Timeout time.Duration
	// Headers are added to every request (e.g. a tenant header).
	Headers map[string]string

	// BearerToken or BearerTokenFile (read on every request, so rotated
	// tokens work) authenticate with "Authorization: Bearer".
	BearerToken     string
	BearerTokenFile string
	// BasicAuthUser with BasicAuthPassword or BasicAuthPasswordFile
	// authenticate with HTTP basic auth.
	BasicAuthUser         string
	BasicAuthPassword     string
	BasicAuthPasswordFile string

	// TLSCAFile is a PEM file of CA certificates that verify the server.
	TLSCAFile string
	// TLSInsecureSkipVerify disables server certificate verification.
	TLSInsecureSkipVerify bool

	// Retries is how many times a transient failure is retried. Zero means
	// DefaultRetries; negative means never retry.
	Retries int
	// InitialBackoff is the wait before the first retry (zero means
	// DefaultInitialBackoff); each further wait doubles, up to MaxBackoff
	// (zero means DefaultMaxBackoff).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration

	// MaxPointsPerQuery is the most grid points one query_range asks for.
	// Zero means DefaultMaxPointsPerQuery.
	MaxPointsPerQuery int

	// Clock provides time; nil means the system clock.
	Clock Clock
	// Logger receives retries and server warnings; nil discards them.
	Logger *slog.Logger
}

// Source queries one Prometheus server. It is safe for concurrent use.
type Source struct {
	api        v1.API
	url        string
	timeout    time.Duration
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	maxPoints  int
	clock      Clock
	log        *slog.Logger
}

// New validates cfg and returns a Source. It does not contact the server.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("prometheus url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("prometheus url %q: want http(s)://host[:port][/prefix]", cfg.URL)
	}
	if cfg.Timeout < 0 || cfg.InitialBackoff < 0 || cfg.MaxBackoff < 0 || cfg.MaxPointsPerQuery < 0 {
		return nil, errors.New("prometheus source: negative timeout, backoff or max points per query")
	}
	rt, err := newTransport(&cfg)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", redact(u), err)
	}
	client, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: client: %w", redact(u), err)
	}
	s := &Source{
		api:        v1.NewAPI(client),
		url:        redact(u),
		timeout:    orDefault(cfg.Timeout, DefaultTimeout),
		retries:    cfg.Retries,
		backoff:    orDefault(cfg.InitialBackoff, DefaultInitialBackoff),
		maxBackoff: orDefault(cfg.MaxBackoff, DefaultMaxBackoff),
		maxPoints:  orDefault(cfg.MaxPointsPerQuery, DefaultMaxPointsPerQuery),
		clock:      cfg.Clock,
		log:        cfg.Logger,
	}
	switch {
	case s.retries == 0:
		s.retries = DefaultRetries
	case s.retries < 0:
		s.retries = 0
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// redact renders u without user info, for messages.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// Aggregation names an aggregation operator that folds a query's series
// into one.
type Aggregation string

// Aggregations accepted by WithAggregate.
const (
	Sum Aggregation = "sum"
	Max Aggregation = "max"
	Min Aggregation = "min"
	Avg Aggregation = "avg"
)

// Progress reports how far a Fetch has come; it is passed to the callback
// set with WithProgress after each chunk.
type Progress struct {
	// Chunk is the number of chunks fetched so far (1-based), of Chunks.
	Chunk, Chunks int
	// Points is the number of grid points covered so far, of TotalPoints.
	Points, TotalPoints int
	// Samples is the number of non-missing points received so far.
	Samples int
}

// Option adjusts one Fetch or Instant call.
type Option func(*options)

type options struct {
	aggregate Aggregation
	progress  func(Progress)
	lookback  time.Duration
}

// WithAggregate wraps the query in an aggregation, e.g. sum(QUERY), so a
// query matching several series yields one. Without it, several series are
// an error.
func WithAggregate(a Aggregation) Option { return func(o *options) { o.aggregate = a } }

// WithProgress calls fn after each chunk of a Fetch.
func WithProgress(fn func(Progress)) Option { return func(o *options) { o.progress = fn } }

// WithLookbackDelta asks the server to carry samples forward for at most d
// instead of its default (5 minutes), so gaps in the data show up sooner.
// Servers older than Prometheus 2.43 ignore it.
func WithLookbackDelta(d time.Duration) Option { return func(o *options) { o.lookback = d } }

func (s *Source) buildQuery(query string, opts []Option) (string, *options, error) {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	if strings.TrimSpace(query) == "" {
		return "", nil, errors.New("empty query")
	}
	switch o.aggregate {
	case "":
	case Sum, Max, Min, Avg:
		query = string(o.aggregate) + "(" + query + ")"
	default:
		return "", nil, fmt.Errorf("aggregation %q: want sum, max, min or avg", o.aggregate)
	}
	if o.lookback < 0 {
		return "", nil, fmt.Errorf("negative lookback delta %v", o.lookback)
	}
	return query, o, nil
}

func (s *Source) apiOptions(o *options) []v1.Option {
	opts := []v1.Option{v1.WithTimeout(s.timeout)}
	if o.lookback > 0 {
		opts = append(opts, v1.WithLookbackDelta(o.lookback))
	}
	return opts
}

// Fetch evaluates query over start..end (inclusive) every step and returns
// one point per grid time start, start+step, ..., up to end; grid points
// without a sample are NaN. Long ranges are fetched in chunks of at most
// MaxPointsPerQuery points. A query yielding several series is an error
// naming them, unless WithAggregate folds them into one; a query yielding
// no sample at all is an error wrapping ErrNoData. Times are truncated to
// milliseconds.
func (s *Source) Fetch(ctx context.Context, query string, start, end time.Time, step time.Duration, opts ...Option) (*series.Series, error) {
	q, o, err := s.buildQuery(query, opts)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", s.url, err)
	}
	start, end = start.Truncate(time.Millisecond), end.Truncate(time.Millisecond)
	if step <= 0 || step%time.Millisecond != 0 {
		return nil, fmt.Errorf("prometheus query %q: step %v: want a positive whole number of milliseconds", q, step)
	}
	if end.Before(start) {
		return nil, fmt.Errorf("prometheus query %q: end %s before start %s", q, end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	startMs, stepMs := start.UnixMilli(), step.Milliseconds()
	if span := (end.UnixMilli() - startMs) / stepMs; span >= MaxFetchPoints {
		return nil, fmt.Errorf("prometheus query %q: %s..%s every %v is more than %d points", q,
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), step, MaxFetchPoints)
	}
	n := int((end.UnixMilli()-startMs)/stepMs) + 1
	out := &series.Series{T: make([]int64, n), Y: make([]float64, n)}
	for i := range out.T {
		out.T[i] = startMs + int64(i)*stepMs
		out.Y[i] = math.NaN()
	}
	chunks := (n + s.maxPoints - 1) / s.maxPoints
	var labelSets []string // distinct label sets seen, in order
	samples := 0
	for c := range chunks {
		lo, hi := c*s.maxPoints, min((c+1)*s.maxPoints, n)-1
		r := v1.Range{Start: time.UnixMilli(out.T[lo]), End: time.UnixMilli(out.T[hi]), Step: step}
		var val model.Value
		err := s.retry(ctx, "query_range", q, func(ctx context.Context) error {
			v, warnings, infos, err := s.api.QueryRange(ctx, q, r, s.apiOptions(o)...)
			s.report(q, warnings, infos)
			val = v
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("%w (chunk %d of %d, %s..%s)", err, c+1, chunks,
				r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339))
		}
		m, ok := val.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("prometheus query %q: answer of type %s, want a matrix", q, typeName(val))
		}
		for _, ss := range m {
			key := ss.Metric.String()
			if !slices.Contains(labelSets, key) {
				labelSets = append(labelSets, key)
			}
			if len(ss.Histograms) > 0 {
				return nil, fmt.Errorf("prometheus query %q: series %s holds native histograms; query a float such as histogram_quantile(...) or histogram_count(...)", q, key)
			}
		}
		if len(labelSets) > 1 {
			return nil, fmt.Errorf("prometheus query %q returned %d series (%s); use WithAggregate (sum, max, min, avg) or a more specific selector",
				q, len(labelSets), strings.Join(labelSets, ", "))
		}
		for _, ss := range m {
			for _, p := range ss.Values {
				off := int64(p.Timestamp) - startMs
				if off%stepMs != 0 || off < 0 || off/stepMs >= int64(n) {
					return nil, fmt.Errorf("prometheus query %q: sample at %s is off the grid %s + k*%v (does the server align queries to the step? then align start to it)",
						q, p.Timestamp.Time().UTC().Format(time.RFC3339Nano), start.UTC().Format(time.RFC3339Nano), step)
				}
				i := off / stepMs
				// Chunks do not overlap, but a server may still repeat a
				// boundary point: the first answer wins.
				if !math.IsNaN(out.Y[i]) {
					continue
				}
				out.Y[i] = float64(p.Value)
				if !math.IsNaN(out.Y[i]) {
					samples++
				}
			}
		}
		if o.progress != nil {
			o.progress(Progress{Chunk: c + 1, Chunks: chunks, Points: hi + 1, TotalPoints: n, Samples: samples})
		}
	}
	if samples == 0 {
		return nil, fmt.Errorf("prometheus query %q between %s and %s: %w", q,
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), ErrNoData)
	}
	return out, nil
}

// Instant evaluates query at time at (zero means now, by the Clock) and
// returns its single value. No result, or NaN, is an error wrapping
// ErrNoData; several series are an error unless WithAggregate folds them.
func (s *Source) Instant(ctx context.Context, query string, at time.Time, opts ...Option) (float64, error) {
	q, o, err := s.buildQuery(query, opts)
	if err != nil {
		return 0, fmt.Errorf("prometheus %s: %w", s.url, err)
	}
	if at.IsZero() {
		at = s.clock.Now()
	}
	var val model.Value
	err = s.retry(ctx, "query", q, func(ctx context.Context) error {
		v, warnings, infos, err := s.api.Query(ctx, q, at, s.apiOptions(o)...)
		s.report(q, warnings, infos)
		val = v
		return err
	})
	if err != nil {
		return 0, err
	}
	var y float64
	switch v := val.(type) {
	case *model.Scalar:
		y = float64(v.Value)
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, fmt.Errorf("prometheus query %q at %s: %w", q, at.UTC().Format(time.RFC3339), ErrNoData)
		case 1:
			y = float64(v[0].Value)
		default:
			sets := make([]string, len(v))
			for i, smp := range v {
				sets[i] = smp.Metric.String()
			}
			return 0, fmt.Errorf("prometheus query %q returned %d series (%s); use WithAggregate (sum, max, min, avg) or a more specific selector",
				q, len(v), strings.Join(sets, ", "))
		}
	default:
		return 0, fmt.Errorf("prometheus query %q: answer of type %s, want a scalar or an instant vector", q, typeName(val))
	}
	if math.IsNaN(y) {
		return 0, fmt.Errorf("prometheus query %q at %s: value is NaN: %w", q, at.UTC().Format(time.RFC3339), ErrNoData)
	}
	return y, nil
}

func typeName(v model.Value) string {
	if v == nil {
		return "none"
	}
	return v.Type().String()
}

func (s *Source) report(q string, warnings v1.Warnings, infos v1.Infos) {
	for _, w := range warnings {
		s.log.Warn("prometheus query warning", "url", s.url, "query", q, "warning", w)
	}
	for _, i := range infos {
		s.log.Debug("prometheus query info", "url", s.url, "query", q, "info", i)
	}
}
