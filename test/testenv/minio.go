package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIOServer is a MinIO server started by MinIO for one test.
type MinIOServer struct {
	// Endpoint is the S3 API address, host:port on 127.0.0.1 (plain HTTP).
	Endpoint string
	// AccessKey and SecretKey are the root credentials, random per server.
	AccessKey string
	SecretKey string
	// Dir is the data directory; it survives Stop, Kill and Restart.
	Dir string

	t           testing.TB
	bin         string
	consoleAddr string
	certsDir    string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// MinIO starts a single-drive MinIO server with random root credentials on
// free loopback ports and waits until it is ready. The server is stopped
// and reaped when the test ends.
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	bin := Binary(t, "minio")
	root := t.TempDir()
	s := &MinIOServer{
		AccessKey: "ppa" + randomHex(t, 8),
		SecretKey: randomHex(t, 20),
		Dir:       filepath.Join(root, "data"),
		t:         t,
		bin:       bin,
		certsDir:  filepath.Join(root, "certs"),
	}
	for _, d := range []string{s.Dir, s.certsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testenv: minio: %v", err)
		}
	}
	// Registered after TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		if t.Failed() {
			s.logTail()
		}
		s.stop(stopTimeout)
	})

	var err error
	for attempt := 0; attempt < 3; attempt++ {
		s.Endpoint = "127.0.0.1:" + strconv.Itoa(FreePort(t))
		s.consoleAddr = "127.0.0.1:" + strconv.Itoa(FreePort(t))
		if err = s.start(); !errors.Is(err, errPortInUse) {
			break
		}
	}
	if err != nil {
		t.Fatalf("testenv: minio: %v", err)
	}
	return s
}

// start launches the server on the current addresses and waits for it.
func (s *MinIOServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("minio at %s is already running", s.Endpoint)
	}
	args := []string{
		"server", s.Dir,
		"--address", s.Endpoint,
		"--console-address", s.consoleAddr,
		"--certs-dir", s.certsDir,
	}
	env := []string{
		"MINIO_ROOT_USER=" + s.AccessKey,
		"MINIO_ROOT_PASSWORD=" + s.SecretKey,
		"MINIO_BROWSER=off", // no web console: nothing uses it
		"MINIO_UPDATE=off",
	}
	p, err := startProcess("minio", s.bin, args, env, []string{"MINIO_"}, s.Dir)
	if err != nil {
		return err
	}
	// /minio/health/cluster answers 200 only once the object layer is up
	// (health/ready can answer before it on a restart, and the first
	// requests then fail with "Server not initialized yet").
	if err := waitReady(p, "http://"+s.Endpoint+"/minio/health/cluster"); err != nil {
		p.stop(0)
		return err
	}
	s.proc = p
	return nil
}

// stop ends the server (SIGTERM, then SIGKILL after timeout; zero kills at
// once) and reaps it. It does nothing when the server is not running.
func (s *MinIOServer) stop(timeout time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.stop(timeout)
	s.proc = nil
}

func (s *MinIOServer) logTail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.t.Logf("minio log (tail):\n%s", tail(s.proc.log.String()))
	}
}

// Stop shuts the server down gracefully and reaps it; Dir is kept, so
// Restart brings the same data back. Stopping a stopped server does
// nothing.
func (s *MinIOServer) Stop() { s.stop(stopTimeout) }

// Kill ends the server abruptly with SIGKILL (as a crash would) and reaps
// it. Clients then see connection errors at Endpoint. Safe to call from
// any goroutine.
func (s *MinIOServer) Kill() { s.stop(0) }

// Restart stops the server if it runs and starts it again on the same
// Endpoint with the same data and credentials. It fails the test if the
// server does not come back.
func (s *MinIOServer) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("testenv: minio restart: %v", err)
	}
}

// Client returns a minio-go client for the server with the root
// credentials.
func (s *MinIOServer) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: false,
	})
	if err != nil {
		t.Fatalf("testenv: minio client for %s: %v", s.Endpoint, err)
	}
	return c
}

// NewBucket creates a bucket with a unique name derived from the test name
// and returns the name.
func (s *MinIOServer) NewBucket(t testing.TB) string {
	t.Helper()
	name := bucketName(t.Name(), randomHex(t, 4))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client(t).MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("testenv: create bucket %q on %s: %v", name, s.Endpoint, err)
	}
	return name
}

// bucketName builds a valid S3 bucket name (3-63 characters of [a-z0-9-],
// starting and ending with a letter or digit) from a test name and a
// random suffix.
func bucketName(testName, suffix string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			if s := b.String(); len(s) > 0 && s[len(s)-1] != '-' {
				b.WriteByte('-')
			}
		}
	}
	base := strings.Trim(b.String(), "-")
	if maxBase := 63 - len("t--") - len(suffix); len(base) > maxBase {
		base = strings.TrimRight(base[:maxBase], "-")
	}
	if base == "" {
		return "t-" + suffix
	}
	return "t-" + base + "-" + suffix
}

// randomHex returns 2n random hex digits.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}
