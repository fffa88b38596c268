package store

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3Options configures the S3 backend. Zero fields take the defaults named
// on each; several fall back to the environment variables the AWS and MinIO
// tools use.
type S3Options struct {
	// Endpoint is "host[:port]" or "http(s)://host[:port]". A scheme decides
	// TLS; without one TLS is on unless Insecure. Default:
	// $AWS_ENDPOINT_URL_S3, then $AWS_ENDPOINT_URL, then "s3.amazonaws.com".
	Endpoint string
	// Region of the bucket. Default: $AWS_REGION, then $AWS_DEFAULT_REGION,
	// then whatever the server reports.
	Region string
	// BucketLookup is "auto" (default: path style for non-AWS endpoints),
	// "path" (http://host/bucket/key) or "dns" (http://bucket.host/key).
	BucketLookup string
	// Insecure turns TLS off for an endpoint given without a scheme.
	Insecure bool
	// CAFile is a PEM bundle of certificate authorities trusted in addition
	// to the system's, for a server with a private CA.
	CAFile string

	// AccessKeyFile and SecretKeyFile hold the credentials, e.g. a mounted
	// Kubernetes Secret; they are re-read when they change. When unset,
	// AccessKey and SecretKey are used, then $AWS_ACCESS_KEY_ID and
	// $AWS_SECRET_ACCESS_KEY (with $AWS_SESSION_TOKEN), then
	// $MINIO_ROOT_USER and $MINIO_ROOT_PASSWORD, then $MINIO_ACCESS_KEY and
	// $MINIO_SECRET_KEY.
	AccessKeyFile string
	SecretKeyFile string
	AccessKey     string
	SecretKey     string

	// DisableVersioning leaves the bucket's versioning alone. By default
	// Open enables versioning (a second line of defence: even an overwrite
	// by another tool keeps the old bytes); failing to do so is logged, not
	// an error.
	DisableVersioning bool
	// CreateBucket creates the bucket when it does not exist (default: a
	// missing bucket is an error).
	CreateBucket bool
	// MaxRetries is how many times a failed request is tried (default:
	// minio-go's, 10). 1 means no retry.
	MaxRetries int
}

// s3Objects keeps objects in a bucket under a prefix.
//
// A new object is written with a conditional PUT (If-None-Match: *), so the
// server refuses it atomically when the key exists; a HEAD before the PUT
// gives the same answer early and covers servers that ignore the condition.
type s3Objects struct {
	client   *minio.Client
	bucket   string
	prefix   string // "" or "a/b" without slashes at the ends
	endpoint string // for messages
	log      *slog.Logger

	noConditionalOnce sync.Once
}

func openS3(ctx context.Context, bucket, prefix string, o S3Options, c *config) (Store, error) {
	where := "s3://" + path.Join(bucket, prefix)
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return nil, fmt.Errorf("open store %s: bucket %q: %w", where, bucket, err)
	}
	client, endpoint, err := newS3Client(o, c.getenv)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", where, err)
	}
	s := &s3Objects{client: client, bucket: bucket, prefix: prefix, endpoint: endpoint, log: c.logger}
	ok, err := client.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", s, s.wrap(err))
	}
	if !ok {
		if !o.CreateBucket {
			return nil, fmt.Errorf("open store %s: bucket %q does not exist", s, bucket)
		}
		if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			code := minio.ToErrorResponse(err).Code
			if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return nil, fmt.Errorf("open store %s: create bucket: %w", s, s.wrap(err))
			}
		}
	}
	if !o.DisableVersioning {
		s.enableVersioning(ctx)
	}
	return newArtifacts(s, c), nil
}

func (s *s3Objects) enableVersioning(ctx context.Context) {
	cfg, err := s.client.GetBucketVersioning(ctx, s.bucket)
	if err == nil && cfg.Enabled() {
		return
	}
	if err := s.client.EnableVersioning(ctx, s.bucket); err != nil {
		s.log.Warn("could not enable bucket versioning; versions stay immutable through conditional writes only",
			"bucket", s.bucket, "endpoint", s.endpoint, "error", err)
	}
}

// newS3Client builds the client and returns the endpoint URL for messages.
func newS3Client(o S3Options, getenv func(string) string) (*minio.Client, string, error) {
	endpoint := firstNonEmpty(o.Endpoint, getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL"), "s3.amazonaws.com")
	secure := !o.Insecure
	host := endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, "", fmt.Errorf("endpoint %q: %w", endpoint, err)
		}
		switch u.Scheme {
		case "http":
			secure = false
		case "https":
			secure = true
		default:
			return nil, "", fmt.Errorf("endpoint %q: scheme %q: want http or https", endpoint, u.Scheme)
		}
		if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, "", fmt.Errorf("endpoint %q: want scheme://host[:port] and nothing else", endpoint)
		}
		host = u.Host
	} else if host == "" || strings.ContainsAny(host, "/?#@") {
		return nil, "", fmt.Errorf("endpoint %q: want host[:port] or scheme://host[:port]", endpoint)
	}
	scheme := "https"
	if !secure {
		scheme = "http"
	}
	shown := scheme + "://" + host

	var lookup minio.BucketLookupType
	switch o.BucketLookup {
	case "", "auto":
		lookup = minio.BucketLookupAuto
	case "path":
		lookup = minio.BucketLookupPath
	case "dns":
		lookup = minio.BucketLookupDNS
	default:
		return nil, "", fmt.Errorf("bucket lookup %q: want auto, path or dns", o.BucketLookup)
	}

	creds, err := s3Credentials(o, getenv)
	if err != nil {
		return nil, "", err
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, "", fmt.Errorf("transport: %w", err)
	}
	if o.CAFile != "" {
		if !secure {
			return nil, "", fmt.Errorf("ca file %s given for a plain-HTTP endpoint %s", o.CAFile, shown)
		}
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, "", fmt.Errorf("ca file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("ca file %s: no PEM certificate found", o.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    tr,
		Region:       firstNonEmpty(o.Region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")),
		BucketLookup: lookup,
		MaxRetries:   o.MaxRetries,
	})
	if err != nil {
		return nil, "", fmt.Errorf("endpoint %s: %w", shown, err)
	}
	return client, shown, nil
}

// s3Credentials picks the credentials documented on S3Options.
func s3Credentials(o S3Options, getenv func(string) string) (*credentials.Credentials, error) {
	switch {
	case o.AccessKeyFile != "" || o.SecretKeyFile != "":
		if o.AccessKeyFile == "" || o.SecretKeyFile == "" {
			return nil, fmt.Errorf("credentials: both an access key file and a secret key file are needed")
		}
		p := &keyFiles{accessFile: o.AccessKeyFile, secretFile: o.SecretKeyFile}
		if _, err := p.Retrieve(); err != nil { // fail at Open, not at first use
			return nil, err
		}
		return credentials.New(p), nil
	case o.AccessKey != "" || o.SecretKey != "":
		if o.AccessKey == "" || o.SecretKey == "" {
			return nil, fmt.Errorf("credentials: both an access key and a secret key are needed")
		}
		return credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), nil
	}
	for _, pair := range [][3]string{
		{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"},
		{"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", ""},
		{"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", ""},
	} {
		id, secret := getenv(pair[0]), getenv(pair[1])
		if id == "" && secret == "" {
			continue
		}
		if id == "" || secret == "" {
			return nil, fmt.Errorf("credentials: $%s and $%s must both be set", pair[0], pair[1])
		}
		token := ""
		if pair[2] != "" {
			token = getenv(pair[2])
		}
		return credentials.NewStaticV4(id, secret, token), nil
	}
	return nil, fmt.Errorf("credentials: none found: set access/secret key files, $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, or $MINIO_ROOT_USER and $MINIO_ROOT_PASSWORD")
}

// keyFiles reads credentials from two files and reads them again when either
// file's modification time changes (a rotated Kubernetes Secret).
type keyFiles struct {
	accessFile, secretFile string

	mu     sync.Mutex
	access time.Time
	secret time.Time
}

func (k *keyFiles) stamps() (time.Time, time.Time) {
	var a, s time.Time
	if fi, err := os.Stat(k.accessFile); err == nil {
		a = fi.ModTime()
	}
	if fi, err := os.Stat(k.secretFile); err == nil {
		s = fi.ModTime()
	}
	return a, s
}

// Retrieve implements credentials.Provider.
func (k *keyFiles) Retrieve() (credentials.Value, error) {
	return k.RetrieveWithCredContext(nil)
}

// RetrieveWithCredContext implements credentials.Provider.
func (k *keyFiles) RetrieveWithCredContext(*credentials.CredContext) (credentials.Value, error) {
	a, s := k.stamps()
	id, err := readKeyFile("access key", k.accessFile)
	if err != nil {
		return credentials.Value{}, err
	}
	secret, err := readKeyFile("secret key", k.secretFile)
	if err != nil {
		return credentials.Value{}, err
	}
	k.mu.Lock()
	k.access, k.secret = a, s
	k.mu.Unlock()
	return credentials.Value{AccessKeyID: id, SecretAccessKey: secret, SignerType: credentials.SignatureV4}, nil
}

// IsExpired implements credentials.Provider.
func (k *keyFiles) IsExpired() bool {
	a, s := k.stamps()
	k.mu.Lock()
	defer k.mu.Unlock()
	return !a.Equal(k.access) || !s.Equal(k.secret)
}

func readKeyFile(what, name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("credentials: %s: %w", what, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("credentials: %s file %s is empty", what, name)
	}
	return v, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func (s *s3Objects) String() string {
	return "s3://" + path.Join(s.bucket, s.prefix) + " (" + s.endpoint + ")"
}

func (s *s3Objects) key(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

func (s *s3Objects) location(key string) string {
	return "s3://" + s.bucket + "/" + s.key(key)
}

// wrap maps S3 error codes onto the sentinel errors and names the endpoint
// when the server could not be reached.
func (s *s3Objects) wrap(err error) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case minio.NoSuchKey:
		return fmt.Errorf("%w (%s)", ErrNotFound, resp.Message)
	case minio.PreconditionFailed:
		return fmt.Errorf("%w (%s)", ErrExists, resp.Message)
	case minio.NoSuchBucket:
		return fmt.Errorf("bucket %q does not exist at %s: %w", s.bucket, s.endpoint, err)
	case "":
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("s3 endpoint %s: %w", s.endpoint, err)
	}
	return err
}

func contentType(key string) string {
	switch path.Ext(key) {
	case ".json":
		return "application/json"
	case ".wasm":
		return "application/wasm"
	}
	return "application/octet-stream"
}

func (s *s3Objects) create(ctx context.Context, key string, data []byte) error {
	loc := s.location(key)
	// Early answer, and the only one from a server that ignores
	// If-None-Match.
	if _, err := s.client.StatObject(ctx, s.bucket, s.key(key), minio.StatObjectOptions{}); err == nil {
		return fmt.Errorf("%s: %w", loc, ErrExists)
	} else if resp := minio.ToErrorResponse(err); resp.Code != minio.NoSuchKey && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("%s: %w", loc, s.wrap(err))
	}
	opts := minio.PutObjectOptions{
		ContentType:      contentType(key),
		DisableMultipart: true, // one request: all or nothing, conditional as a whole
	}
	opts.SetMatchETagExcept("*") // If-None-Match: *
	_, err := s.client.PutObject(ctx, s.bucket, s.key(key), bytes.NewReader(data), int64(len(data)), opts)
	if err != nil && minio.ToErrorResponse(err).Code == minio.NotImplemented {
		s.noConditionalOnce.Do(func() {
			s.log.Warn("server does not support conditional writes; concurrent writers of one version are not excluded",
				"endpoint", s.endpoint, "bucket", s.bucket)
		})
		opts = minio.PutObjectOptions{ContentType: contentType(key), DisableMultipart: true}
		_, err = s.client.PutObject(ctx, s.bucket, s.key(key), bytes.NewReader(data), int64(len(data)), opts)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", loc, s.wrap(err))
	}
	return nil
}

func (s *s3Objects) read(ctx context.Context, key string, limit int64) ([]byte, error) {
	loc := s.location(key)
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc, s.wrap(err))
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc, s.wrap(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w", loc, errTooLarge)
	}
	return b, nil
}

func (s *s3Objects) list(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	full := s.key(prefix)
	for info := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if info.Err != nil {
			return nil, fmt.Errorf("list %s: %w", s.location(prefix), s.wrap(info.Err))
		}
		rel := info.Key
		if s.prefix != "" {
			var ok bool
			if rel, ok = strings.CutPrefix(rel, s.prefix+"/"); !ok {
				continue
			}
		}
		keys = append(keys, rel)
	}
	return keys, nil
}

func (s *s3Objects) remove(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(key), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("%s: %w", s.location(key), s.wrap(err))
	}
	return nil
}
