package store

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ppa-autoscaler/ppa/test/testenv"
)

func openS3Test(t *testing.T, uri string, o S3Options, opts ...Option) (*artifacts, error) {
	t.Helper()
	opts = append([]Option{WithClock(fixedClock), WithGetenv(noEnv), WithS3(o)}, opts...)
	s, err := Open(context.Background(), uri, opts...)
	if err != nil {
		return nil, err
	}
	return s.(*artifacts), nil
}

// TestS3 covers what only the S3 backend does: server crashes, versioning,
// conditional writes, credentials and bucket handling. One MinIO serves all
// cases; the cases that kill it run last.
func TestS3(t *testing.T) {
	srv := testenv.MinIO(t)
	ctx := context.Background()

	t.Run("versioning enabled by default", func(t *testing.T) {
		bucket := srv.NewBucket(t)
		if _, err := openS3Test(t, "s3://"+bucket, testS3Options(srv)); err != nil {
			t.Fatal(err)
		}
		cfg, err := srv.Client(t).GetBucketVersioning(ctx, bucket)
		if err != nil || !cfg.Enabled() {
			t.Fatalf("versioning %+v, %v; want enabled", cfg, err)
		}
		bucket = srv.NewBucket(t)
		o := testS3Options(srv)
		o.DisableVersioning = true
		if _, err := openS3Test(t, "s3://"+bucket, o); err != nil {
			t.Fatal(err)
		}
		cfg, err = srv.Client(t).GetBucketVersioning(ctx, bucket)
		if err != nil || cfg.Enabled() {
			t.Fatalf("versioning %+v, %v; want left off", cfg, err)
		}
	})

	t.Run("server refuses a conditional overwrite", func(t *testing.T) {
		// The store's atomicity rests on If-None-Match: * being enforced by
		// the server, versioned bucket included, not on the HEAD before it.
		bucket := srv.NewBucket(t)
		s, err := openS3Test(t, "s3://"+bucket+"/p", testS3Options(srv))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.obj.create(ctx, "k", []byte("first")); err != nil {
			t.Fatal(err)
		}
		opts := minio.PutObjectOptions{DisableMultipart: true}
		opts.SetMatchETagExcept("*")
		_, err = srv.Client(t).PutObject(ctx, bucket, "p/k", strings.NewReader("second"), 6, opts)
		if code := minio.ToErrorResponse(err).Code; code != minio.PreconditionFailed {
			t.Fatalf("conditional overwrite: %v (code %q), want PreconditionFailed", err, code)
		}
		if b, err := s.obj.read(ctx, "k", 100); err != nil || string(b) != "first" {
			t.Fatalf("object now %q, %v", b, err)
		}
		// And the store maps the server's answer to ErrExists.
		if err := s.obj.create(ctx, "k", []byte("third")); !errors.Is(err, ErrExists) {
			t.Fatalf("create existing: %v, want ErrExists", err)
		}
	})

	t.Run("bucket", func(t *testing.T) {
		_, err := openS3Test(t, "s3://no-such-bucket-ppa", testS3Options(srv))
		if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket-ppa" does not exist`) {
			t.Fatalf("missing bucket: %v", err)
		}
		o := testS3Options(srv)
		o.CreateBucket = true
		s, err := openS3Test(t, "s3://ppa-created-bucket/x", o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutPlugin(ctx, pluginMeta("p", "1.0.0"), wasmBytes("p")); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Client(t).StatObject(ctx, "ppa-created-bucket", "x/plugins/p/1.0.0/plugin.json", minio.StatObjectOptions{}); err != nil {
			t.Fatalf("plugin.json not at the documented key: %v", err)
		}
	})

	t.Run("credentials", func(t *testing.T) {
		bucket := srv.NewBucket(t)
		dir := t.TempDir()
		ak, sk := filepath.Join(dir, "access-key"), filepath.Join(dir, "secret-key")
		if err := os.WriteFile(ak, []byte(srv.AccessKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sk, []byte(srv.SecretKey+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{
			"AWS_ENDPOINT_URL":      "http://" + srv.Endpoint,
			"AWS_ACCESS_KEY_ID":     srv.AccessKey,
			"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		}
		minioEnv := map[string]string{
			"MINIO_ROOT_USER":     srv.AccessKey,
			"MINIO_ROOT_PASSWORD": srv.SecretKey,
		}
		for _, c := range []struct {
			name    string
			uri     string
			o       S3Options
			env     map[string]string
			wantErr string
		}{
			{"key files", "s3://" + bucket, S3Options{Endpoint: "http://" + srv.Endpoint, AccessKeyFile: ak, SecretKeyFile: sk}, nil, ""},
			{"aws env", "s3://" + bucket, S3Options{}, env, ""},
			{"minio env and query", "s3://" + bucket + "/p?endpoint=" + srv.Endpoint + "&insecure=true&lookup=path", S3Options{}, minioEnv, ""},
			{"wrong secret", "s3://" + bucket, S3Options{Endpoint: "http://" + srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: "wrong-secret-key"}, nil, "signature"},
			{"missing key file", "s3://" + bucket, S3Options{Endpoint: "http://" + srv.Endpoint, AccessKeyFile: ak, SecretKeyFile: filepath.Join(dir, "nope")}, nil, "secret key"},
		} {
			t.Run(c.name, func(t *testing.T) {
				c.o.MaxRetries = 1
				s, err := Open(ctx, c.uri, WithS3(c.o), WithGetenv(func(k string) string { return c.env[k] }))
				if c.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), c.wantErr) {
						t.Fatalf("Open: %v, want an error containing %q", err, c.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.ListPlugins(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		port := testenv.FreePort(t) // nothing listens there
		o := S3Options{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), AccessKey: "a", SecretKey: "b", MaxRetries: 1}
		_, err := openS3Test(t, "s3://bucket", o)
		if err == nil || !strings.Contains(err.Error(), "s3 endpoint http://127.0.0.1:"+strconv.Itoa(port)) ||
			!strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Open of an unreachable endpoint: %v", err)
		}
	})

	// The cases below kill the server; they restart it when done.

	t.Run("server killed after open", func(t *testing.T) {
		bucket := srv.NewBucket(t)
		s, err := openS3Test(t, "s3://"+bucket, testS3Options(srv))
		if err != nil {
			t.Fatal(err)
		}
		srv.Kill()
		defer srv.Restart()
		_, _, err = s.GetModel(ctx, refA, version(t, 0, "abc"))
		if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "s3 endpoint http://"+srv.Endpoint) {
			t.Fatalf("GetModel with the server down: %v, want an error naming the endpoint", err)
		}
	})

	t.Run("server killed between model and manifest", func(t *testing.T) {
		bucket := srv.NewBucket(t)
		s, err := openS3Test(t, "s3://"+bucket+"/ppa", testS3Options(srv))
		if err != nil {
			t.Fatal(err)
		}
		v := version(t, 0, "abc")
		payload := ""
		s.afterPayload = func(key string) error {
			payload = key
			srv.Kill()
			return nil
		}
		_, err = s.PutModel(ctx, manifest(refA, v, true), modelBytes("a"))
		if err == nil || !strings.Contains(err.Error(), "manifest.json") {
			t.Fatalf("PutModel with the server killed: %v, want an error naming the manifest", err)
		}
		if payload != modelKey(refA, v, modelFile) {
			t.Fatalf("hook saw %q: the model was not written first", payload)
		}
		srv.Restart()
		s.afterPayload = nil
		retrying(t, s, srv)
		if vs, err := s.ListModelVersions(ctx, refA); err != nil || len(vs) != 0 {
			t.Fatalf("versions after the crash %v, %v; want none", vs, err)
		}
		if _, _, err := s.GetModel(ctx, refA, v); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetModel after the crash: %v, want ErrNotFound", err)
		}
		if _, err := s.Latest(ctx, refA, false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Latest after the crash: %v, want ErrNotFound", err)
		}
		// A new training gets a new version and succeeds.
		v2 := version(t, time.Minute, "abc")
		if _, err := s.PutModel(ctx, manifest(refA, v2, true), modelBytes("b")); err != nil {
			t.Fatal(err)
		}
		if m, err := s.Latest(ctx, refA, true); err != nil || m.Version != v2 {
			t.Fatalf("Latest = %s, %v; want %s", m.Version, err, v2)
		}
	})

	t.Run("server killed during model upload", func(t *testing.T) {
		bucket := srv.NewBucket(t)
		s, err := openS3Test(t, "s3://"+bucket, testS3Options(srv))
		if err != nil {
			t.Fatal(err)
		}
		// The store's client reads the model through this transport; the
		// server dies once part of the body has been sent.
		s3o := s.obj.(*s3Objects)
		killAfter := int64(64 << 10)
		s3o.client = killingClient(t, srv, killAfter)
		model := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		v := version(t, 0, "abc")
		_, err = s.PutModel(ctx, manifest(refA, v, true), model)
		if err == nil {
			t.Fatal("PutModel succeeded although the server died")
		}
		srv.Restart()
		retrying(t, s, srv)
		if vs, err := s.ListModelVersions(ctx, refA); err != nil || len(vs) != 0 {
			t.Fatalf("versions after the crash %v, %v; want none", vs, err)
		}
		if _, _, err := s.GetModel(ctx, refA, v); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetModel after the crash: %v, want ErrNotFound", err)
		}
		// A PUT is all or nothing: not even a partial model is left.
		if _, err := s.obj.read(ctx, modelKey(refA, v, modelFile), 1<<30); !errors.Is(err, ErrNotFound) {
			t.Fatalf("model.bin after the crash: %v, want ErrNotFound", err)
		}
	})
}

// retrying gives s a client with minio-go's default retries: a restarted
// MinIO reports ready before it serves every request ("Server not
// initialized yet", 503), which a client that never retries would see. The
// region is given because minio-go does not retry a bucket-location lookup.
func retrying(t *testing.T, s *artifacts, srv *testenv.MinIOServer) {
	t.Helper()
	o := testS3Options(srv)
	o.MaxRetries, o.Region = 0, "us-east-1"
	c, _, err := newS3Client(o, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	s.obj.(*s3Objects).client = c
}

// killingClient returns a client for srv that kills the server once limit
// bytes of a request body have been sent.
func killingClient(t *testing.T, srv *testenv.MinIOServer, limit int64) *minio.Client {
	t.Helper()
	tr, err := minio.DefaultTransport(false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(srv.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Transport:  &killingTransport{next: tr, srv: srv, limit: limit},
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type killingTransport struct {
	next  http.RoundTripper
	srv   *testenv.MinIOServer
	limit int64
}

func (k *killingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.Body != nil && req.ContentLength > k.limit {
		req = req.Clone(req.Context())
		req.Body = &killingBody{ReadCloser: req.Body, srv: k.srv, left: k.limit}
	}
	return k.next.RoundTrip(req)
}

// killingBody kills the server when its byte budget is spent.
type killingBody struct {
	io.ReadCloser
	srv    *testenv.MinIOServer
	left   int64
	killed bool
}

func (b *killingBody) Read(p []byte) (int, error) {
	if b.left <= 0 && !b.killed {
		// The rest of the body then meets a dead connection.
		b.killed = true
		b.srv.Kill()
	}
	if !b.killed && int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// TestS3TrustsCAFile checks the TLS set-up against a loopback HTTPS server
// with a certificate from its own CA: refused without the CA file, trusted
// with it. The server answers the two requests Open makes (bucket exists,
// versioning enabled).
func TestS3TrustsCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.URL.Query()["versioning"]; ok {
			w.Header().Set("Content-Type", "application/xml")
			io.WriteString(w, `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`)
			return
		}
		w.WriteHeader(http.StatusOK) // HEAD /bucket: it exists
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(srv.URL, "https://")
	for _, c := range []struct {
		name    string
		o       S3Options
		wantErr string
	}{
		{"untrusted", S3Options{Endpoint: srv.URL}, "certificate"},
		{"ca file", S3Options{Endpoint: srv.URL, CAFile: ca}, ""},
		{"ca file, no scheme", S3Options{Endpoint: host, CAFile: ca}, ""},
		{"no pem in ca file", S3Options{Endpoint: srv.URL, CAFile: filepath.Join("testdata", "manifest.json")}, "no PEM certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.o.AccessKey, c.o.SecretKey, c.o.MaxRetries, c.o.Region = "a", "b", 1, "us-east-1"
			s, err := openS3Test(t, "s3://bucket/x", c.o)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Open: %v, want an error containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := "s3://bucket/x (" + srv.URL + ")"; s.String() != want {
				t.Fatalf("String() = %q, want %q", s.String(), want)
			}
		})
	}
}

// TestS3KeyFilesRotate: credentials from files are read again when the
// files change, as when Kubernetes updates a mounted Secret.
func TestS3KeyFilesRotate(t *testing.T) {
	srv := testenv.MinIO(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	dir := t.TempDir()
	ak, sk := filepath.Join(dir, "access-key"), filepath.Join(dir, "secret-key")
	stamp := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(secret string) {
		t.Helper()
		stamp = stamp.Add(time.Minute) // distinct mtimes whatever the file system's resolution
		for f, v := range map[string]string{ak: srv.AccessKey, sk: secret} {
			if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(f, stamp, stamp); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(srv.SecretKey)
	s, err := openS3Test(t, "s3://"+bucket, S3Options{Endpoint: "http://" + srv.Endpoint, AccessKeyFile: ak, SecretKeyFile: sk, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	write("rotated-to-a-wrong-secret")
	if _, err := s.ListPlugins(ctx); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("ListPlugins with a wrong secret in the files: %v, want a signature error", err)
	}
	write(srv.SecretKey)
	if _, err := s.ListPlugins(ctx); err != nil {
		t.Fatalf("ListPlugins after the secret came back: %v", err)
	}
}
