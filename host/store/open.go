package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Option configures Open.
type Option func(*config)

type config struct {
	logger  *slog.Logger
	now     func() time.Time
	entropy io.Reader
	s3      S3Options
	getenv  func(string) string
}

// WithLogger sets the logger for warnings (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithClock sets the clock that stamps Created and new versions (default:
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithEntropy sets the entropy of versions made by PutModel (default:
// crypto/rand.Reader).
func WithEntropy(r io.Reader) Option {
	return func(c *config) {
		if r != nil {
			c.entropy = r
		}
	}
}

// WithS3 sets the S3 options; ignored by a local store.
func WithS3(o S3Options) Option {
	return func(c *config) { c.s3 = o }
}

// WithGetenv sets how the S3 backend reads environment variables (default:
// os.Getenv). Tests use it to keep the process environment out.
func WithGetenv(getenv func(string) string) Option {
	return func(c *config) {
		if getenv != nil {
			c.getenv = getenv
		}
	}
}

// Open opens the store at uri:
//
//	DIR, file://DIR                          a local directory (created if missing)
//	s3://BUCKET, s3://BUCKET/PREFIX          an S3 bucket, optionally under a prefix
//
// An S3 URI may carry the query parameters endpoint, region, lookup and
// insecure, with the meaning of the S3Options fields of the same names;
// fields set in WithS3 take precedence. Credentials are never taken from the
// URI: see S3Options.
//
// Opening an S3 store checks that the bucket can be reached (so a wrong
// endpoint or missing bucket fails here, not at the first write) and, unless
// disabled, turns on bucket versioning.
func Open(ctx context.Context, uri string, opts ...Option) (Store, error) {
	c := &config{
		logger:  slog.New(slog.DiscardHandler),
		now:     time.Now,
		entropy: defaultEntropy,
		getenv:  os.Getenv,
	}
	for _, o := range opts {
		o(c)
	}
	scheme, rest, hasScheme := strings.Cut(uri, "://")
	switch {
	case strings.TrimSpace(uri) == "":
		return nil, fmt.Errorf("open store: empty location: want a directory, file://DIR or s3://BUCKET/PREFIX")
	case !hasScheme:
		return openLocal(uri, c)
	case scheme == "file":
		if rest == "" {
			return nil, fmt.Errorf("open store %q: no directory after file://", uri)
		}
		if strings.ContainsAny(rest, "?#") {
			return nil, fmt.Errorf("open store %q: a file:// location takes no query or fragment", uri)
		}
		return openLocal(rest, c)
	case scheme == "s3":
		o, bucket, prefix, err := parseS3URI(uri, c.s3)
		if err != nil {
			return nil, err
		}
		return openS3(ctx, bucket, prefix, o, c)
	default:
		return nil, fmt.Errorf("open store %q: unsupported scheme %q: want a directory, file://DIR or s3://BUCKET/PREFIX", uri, scheme)
	}
}

// parseS3URI splits s3://BUCKET/PREFIX?query and merges the query into o.
func parseS3URI(uri string, o S3Options) (S3Options, string, string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return o, "", "", fmt.Errorf("open store %q: %w", uri, err)
	}
	if u.User != nil {
		return o, "", "", fmt.Errorf("open store %q: credentials do not belong in the location: use the environment or key files", redact(u))
	}
	if u.Host == "" {
		return o, "", "", fmt.Errorf("open store %q: no bucket: want s3://BUCKET/PREFIX", uri)
	}
	if u.Fragment != "" {
		return o, "", "", fmt.Errorf("open store %q: unexpected fragment", uri)
	}
	prefix := strings.Trim(u.Path, "/")
	for _, part := range strings.Split(prefix, "/") {
		if prefix != "" && (part == "" || part == "." || part == "..") {
			return o, "", "", fmt.Errorf("open store %q: prefix %q: empty, \".\" or \"..\" path element", uri, prefix)
		}
	}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "endpoint":
			if o.Endpoint == "" {
				o.Endpoint = v
			}
		case "region":
			if o.Region == "" {
				o.Region = v
			}
		case "lookup":
			if o.BucketLookup == "" {
				o.BucketLookup = v
			}
		case "insecure":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, "", "", fmt.Errorf("open store %q: insecure=%q: want true or false", uri, v)
			}
			o.Insecure = o.Insecure || b
		default:
			return o, "", "", fmt.Errorf("open store %q: unknown query parameter %q (known: endpoint, region, lookup, insecure)", uri, k)
		}
	}
	return o, u.Host, prefix, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
