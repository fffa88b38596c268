package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// SeaweedFSServer is a SeaweedFS server (master, volume, filer and S3
// gateway in one process: weed server -s3) started for one test.
type SeaweedFSServer struct {
	// Endpoint is the S3 gateway's address, host:port on 127.0.0.1.
	Endpoint string
	// AccessKey and SecretKey are the S3 identity's, random per server.
	AccessKey string
	SecretKey string

	proc *process
	// sockets are the Unix sockets weed makes under /tmp (at fixed paths,
	// named by port), removed when the server stops.
	sockets []string
}

// SeaweedFS starts weed server -s3 with one S3 identity on free loopback
// ports and waits until the gateway answers. It is killed and reaped when
// the test ends (its data is thrown away). The first write to a fresh
// server takes about 5 s: the master holds volume allocation for two
// heartbeats after it becomes leader.
func SeaweedFS(t testing.TB) *SeaweedFSServer {
	t.Helper()
	bin := Binary(t, "weed")
	root := t.TempDir()
	s := &SeaweedFSServer{AccessKey: "ppa" + randomHex(t, 8), SecretKey: randomHex(t, 20)}
	dir := filepath.Join(root, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: seaweedfs: %v", err)
	}
	cfg, err := json.Marshal(map[string]any{"identities": []any{map[string]any{
		"name":        "ppa",
		"credentials": []any{map[string]string{"accessKey": s.AccessKey, "secretKey": s.SecretKey}},
		"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(root, "s3.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatalf("testenv: seaweedfs: %v", err)
	}
	t.Cleanup(func() {
		if s.proc != nil {
			if t.Failed() {
				t.Logf("seaweedfs log (tail):\n%s", s.proc.log.String())
			}
			// Its data is thrown away: no need to wait for a clean exit.
			s.proc.stop(0)
		}
		for _, p := range s.sockets {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("testenv: seaweedfs: %v", err)
			}
		}
	})
	for attempt := 0; attempt < 3; attempt++ {
		ports := map[string]int{}
		for _, svc := range []string{"master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc"} {
			ports[svc] = FreePort(t)
		}
		port := func(svc string) string { return strconv.Itoa(ports[svc]) }
		s.Endpoint = "127.0.0.1:" + port("s3")
		for _, svc := range []string{"master", "volume", "filer", "s3"} {
			s.sockets = append(s.sockets, fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", svc, ports[svc+".grpc"]))
		}
		s.sockets = append(s.sockets, fmt.Sprintf("/tmp/seaweedfs-filer-%d.sock", ports["filer"]), fmt.Sprintf("/tmp/seaweedfs-s3-%d.sock", ports["s3"]))
		args := []string{"server", "-dir", dir, "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1",
			"-master.port", port("master"), "-master.port.grpc", port("master.grpc"),
			"-volume.port", port("volume"), "-volume.port.grpc", port("volume.grpc"),
			"-filer.port", port("filer"), "-filer.port.grpc", port("filer.grpc"),
			"-master.telemetry=false",
			// Every bucket is a collection with volumes of its own: allow
			// many small ones.
			"-volume.max", "100", "-master.volumeSizeLimitMB", "64",
			"-s3", "-s3.port", port("s3"), "-s3.port.grpc", port("s3.grpc"), "-s3.config", cfgPath,
		}
		var p *process
		p, err = startProcess("weed", bin, args, nil, []string{"WEED_", "AWS_"}, dir)
		if err != nil {
			continue
		}
		if err = waitReady(p, "http://"+s.Endpoint+"/healthz"); err != nil {
			p.stop(0)
			if errors.Is(err, errPortInUse) {
				continue
			}
			break
		}
		s.proc = p
		break
	}
	if err != nil {
		t.Fatalf("testenv: seaweedfs: %v", err)
	}
	return s
}

// Client returns a minio-go client for the gateway with the identity's
// credentials.
func (s *SeaweedFSServer) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		t.Fatalf("testenv: seaweedfs client for %s: %v", s.Endpoint, err)
	}
	return c
}

// NewBucket creates a bucket with a unique name derived from the test name
// and returns the name. The gateway can answer before the filer takes
// writes: creation is retried for a while.
func (s *SeaweedFSServer) NewBucket(t testing.TB) string {
	t.Helper()
	name := bucketName(t.Name(), randomHex(t, 4))
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.Client(t).MakeBucket(ctx, name, minio.MakeBucketOptions{})
		cancel()
		if err == nil {
			return name
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: create bucket %q on seaweedfs %s: %v", name, s.Endpoint, fmt.Errorf("%w", err))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
