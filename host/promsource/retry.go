package promsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Error is a failed request to the server, after any retries.
type Error struct {
	// Op is the API call: "query_range" or "query".
	Op string
	// Query is the PromQL sent (after any aggregation was applied).
	Query string
	// URL is the server's base URL without credentials.
	URL string
	// Attempts is how many requests were made.
	Attempts int
	// Status is the HTTP status of the last answer, 0 if none came.
	Status int
	// Transient reports whether the last failure was of a kind that is
	// retried (connection error, timeout, 5xx, 429); false means a problem
	// with the request itself, such as a bad query.
	Transient bool
	// Err is the last failure.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "prometheus %s %s %q", e.URL, e.Op, e.Query)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	b.WriteString(": ")
	b.WriteString(describe(e.Err))
	return b.String()
}

// Unwrap returns the last failure.
func (e *Error) Unwrap() error { return e.Err }

// describe renders err, adding the body of a non-API HTTP error (e.g. a
// proxy's 401 page) which client_golang keeps only in Detail.
func describe(err error) string {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) && apiErr.Detail != "" {
		d := strings.Join(strings.Fields(apiErr.Detail), " ")
		if len(d) > 300 {
			d = d[:300] + "..."
		}
		return fmt.Sprintf("%v: %s", err, d)
	}
	return err.Error()
}

// retry runs call until it succeeds, fails permanently, runs out of
// retries, or ctx ends. Each attempt gets its own timeout.
func (s *Source) retry(ctx context.Context, op, query string, call func(context.Context) error) error {
	wait := s.backoff
	for attempt := 1; ; attempt++ {
		var status int
		actx, cancel := context.WithTimeout(withStatusRecorder(ctx, &status), s.timeout)
		err := call(actx)
		cancel()
		if err == nil {
			return nil
		}
		e := &Error{Op: op, Query: query, URL: s.url, Attempts: attempt, Status: status, Err: err}
		if ctx.Err() != nil {
			// The caller gave up; that is not the server's failure.
			e.Err = fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			return e
		}
		e.Transient = transient(err, status)
		if !e.Transient || attempt > s.retries {
			return e
		}
		s.log.Warn("prometheus request failed; retrying", "url", s.url, "op", op, "query", query,
			"attempt", attempt, "status", status, "wait", wait, "err", err)
		if err := s.clock.Sleep(ctx, wait); err != nil {
			e.Err = fmt.Errorf("%w (last error: %v)", err, e.Err)
			return e
		}
		wait = min(2*wait, s.maxBackoff)
	}
}

// transient reports whether a failure is worth retrying: anything that is
// not an answer rejecting the request itself.
func transient(err error, status int) bool {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		switch apiErr.Type {
		case v1.ErrServer, v1.ErrTimeout, v1.ErrCanceled:
			return true
		case v1.ErrClient:
			return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
		default: // bad_data, execution, bad_response and unknown types
			return false
		}
	}
	// A server whose certificate does not verify will not start to.
	var certErr *tls.CertificateVerificationError
	var authErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr) {
		return false
	}
	// Connection refused or reset, DNS failures, per-attempt timeouts.
	return true
}
