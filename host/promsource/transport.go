package promsource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// statusKey is the context key under which a request carries a *int that
// the transport fills with the HTTP status code of the answer, so that the
// retry logic can tell 429 from other 4xx answers.
type statusKey struct{}

// withStatusRecorder returns a context whose requests record their HTTP
// status into *status.
func withStatusRecorder(ctx context.Context, status *int) context.Context {
	return context.WithValue(ctx, statusKey{}, status)
}

// authTransport adds authentication and fixed headers to every request and
// records the answer's status code.
type authTransport struct {
	base http.RoundTripper

	headers map[string]string

	bearerToken     string
	bearerTokenFile string

	basicUser         string
	basicPassword     string
	basicPasswordFile string
}

// RoundTrip implements http.RoundTripper.
func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range a.headers {
		req.Header.Set(k, v)
	}
	switch {
	case a.bearerToken != "" || a.bearerTokenFile != "":
		tok, err := secret(a.bearerToken, a.bearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case a.basicUser != "":
		pw, err := secret(a.basicPassword, a.basicPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("basic auth password: %w", err)
		}
		req.SetBasicAuth(a.basicUser, pw)
	}
	resp, err := a.base.RoundTrip(req)
	if resp != nil {
		if p, ok := req.Context().Value(statusKey{}).(*int); ok {
			*p = resp.StatusCode
		}
	}
	return resp, err
}

// secret returns value, or the trimmed content of file when file is set.
// Files are read on every request so that rotated credentials (projected
// service-account tokens, mounted secrets) are picked up.
func secret(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s is empty", file)
	}
	return s, nil
}

// newTransport builds the HTTP transport for cfg.
func newTransport(cfg *Config) (http.RoundTripper, error) {
	if cfg.BearerToken != "" && cfg.BearerTokenFile != "" {
		return nil, errors.New("bearer token and bearer token file are mutually exclusive")
	}
	bearer := cfg.BearerToken != "" || cfg.BearerTokenFile != ""
	if cfg.BasicAuthPassword != "" && cfg.BasicAuthPasswordFile != "" {
		return nil, errors.New("basic auth password and password file are mutually exclusive")
	}
	if cfg.BasicAuthUser == "" && (cfg.BasicAuthPassword != "" || cfg.BasicAuthPasswordFile != "") {
		return nil, errors.New("basic auth password given without a user")
	}
	if bearer && cfg.BasicAuthUser != "" {
		return nil, errors.New("bearer token and basic auth are mutually exclusive")
	}
	// Fail early on unreadable credential files; they are read again on
	// every request.
	for _, f := range []string{cfg.BearerTokenFile, cfg.BasicAuthPasswordFile} {
		if f != "" {
			if _, err := secret("", f); err != nil {
				return nil, fmt.Errorf("credentials file: %w", err)
			}
		}
	}

	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("http.DefaultTransport is not an *http.Transport")
	}
	tr := base.Clone()
	if cfg.TLSCAFile != "" || cfg.TLSInsecureSkipVerify {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLSInsecureSkipVerify} //nolint:gosec // the user asked for it
		if cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("tls ca file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls ca file %s: no PEM certificates", cfg.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	return &authTransport{
		base:              tr,
		headers:           cfg.Headers,
		bearerToken:       cfg.BearerToken,
		bearerTokenFile:   cfg.BearerTokenFile,
		basicUser:         cfg.BasicAuthUser,
		basicPassword:     cfg.BasicAuthPassword,
		basicPasswordFile: cfg.BasicAuthPasswordFile,
	}, nil
}
