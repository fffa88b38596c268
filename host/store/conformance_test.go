package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// t0 is the fixed clock of every test store.
var t0 = time.Date(2026, 11, 29, 17, 6, 55, 123_000_000, time.UTC)

// backend opens fresh, empty stores of one kind and tampers with them
// out-of-band.
type backend struct {
	name string
	// open returns a new empty store.
	open func(t *testing.T) *artifacts
}

// overwrite replaces an object behind the store's back, as a faulty disk or
// another tool would.
func overwrite(t *testing.T, a *artifacts, key string, data []byte) {
	t.Helper()
	switch o := a.obj.(type) {
	case *localObjects:
		p := o.path(key)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	case *s3Objects:
		_, err := o.client.PutObject(context.Background(), o.bucket, o.key(key), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatalf("overwrite %s: %v", o.location(key), err)
		}
	default:
		t.Fatalf("unknown backend %T", a.obj)
	}
}

func localBackend() backend {
	return backend{name: "local", open: func(t *testing.T) *artifacts {
		s, err := Open(context.Background(), "file://"+t.TempDir(), WithClock(fixedClock), WithGetenv(noEnv))
		if err != nil {
			t.Fatal(err)
		}
		return s.(*artifacts)
	}}
}

// s3Backend opens stores on one S3 server (MinIO, SeaweedFS), each in the
// place where returns (a bucket, and a key prefix ending in "/" or empty),
// under a further prefix so that prefix handling is exercised too.
func s3Backend(name string, where func(t *testing.T) (bucket, prefix string), opts S3Options) backend {
	return backend{name: name, open: func(t *testing.T) *artifacts {
		bucket, prefix := where(t)
		s, err := Open(context.Background(), "s3://"+bucket+"/"+prefix+"ppa/artifacts", WithClock(fixedClock), WithGetenv(noEnv),
			WithS3(opts))
		if err != nil {
			t.Fatal(err)
		}
		return s.(*artifacts)
	}}
}

func testS3Options(srv *testenv.MinIOServer) S3Options {
	return S3Options{Endpoint: "http://" + srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, MaxRetries: 1}
}

func fixedClock() time.Time { return t0 }

func noEnv(string) string { return "" }

var (
	refA = ModelRef{Namespace: "shop", Name: "checkout-rps"}
	refB = ModelRef{Namespace: "shop", Name: "cart-rps"}
)

// manifest returns a complete manifest for ref at version.
func manifest(ref ModelRef, version string, accepted bool) Manifest {
	return Manifest{
		Model:   ref,
		Version: version,
		Plugin:  PluginRef{Name: "prophet", Version: "1.0.0", SHA256: strings.Repeat("ab", 32)},
		Data: DataWindow{
			Source: "prometheus", Query: `sum(rate(http_requests_total{job="checkout"}[5m]))`,
			Start: t0.Add(-14 * 24 * time.Hour), End: t0, Step: Duration(time.Minute), Points: 20160, Missing: 12,
		},
		Parameters: abi.Params{"seasonality_mode": "additive", "changepoints": 25.0},
		Seed:       42,
		Metrics:    Metrics{"mase": 0.8, "mape": 0.12},
		Gate:       Gate{Accepted: accepted, Reason: "mase 0.80 <= 1", Limits: Metrics{"mase": 1}},
		Trainer:    TrainerInfo{Version: "0.1.0"},
		Created:    t0,
		CreatedBy:  "trainer@test",
	}
}

func pluginMeta(name, version string) PluginMeta {
	return PluginMeta{
		Name: name, Version: version, ABIVersion: "1.0.0",
		Description: abi.Description{Name: name, Version: version, Description: "test plugin",
			Capabilities: abi.Capabilities{Intervals: true, MinPoints: 10}},
		Uploader: "dev@test",
	}
}

// wasmBytes returns distinct bytes standing in for a module (the store does
// not parse wasm).
func wasmBytes(tag string) []byte {
	return append([]byte("\x00asm\x01\x00\x00\x00"), []byte(strings.Repeat(tag, 100))...)
}

func modelBytes(tag string) []byte { return []byte(strings.Repeat("model:"+tag+";", 50)) }

// version returns the NewVersion of t0 + d with fixed entropy.
func version(t *testing.T, d time.Duration, entropy string) string {
	t.Helper()
	v, err := NewVersion(t0.Add(d), strings.NewReader(entropy))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConformance(t *testing.T) {
	minioSrv := testenv.MinIO(t)
	weed := testenv.SeaweedFS(t)
	// SeaweedFS makes each bucket a collection with volumes of its own
	// (about a second each): its cases share one bucket, each under a
	// prefix of its own.
	weedBucket := weed.NewBucket(t)
	var cases atomic.Int64
	for _, b := range []backend{
		localBackend(),
		s3Backend("s3", func(t *testing.T) (string, string) { return minioSrv.NewBucket(t), "" }, testS3Options(minioSrv)),
		s3Backend("seaweedfs", func(t *testing.T) (string, string) { return weedBucket, fmt.Sprintf("case%d/", cases.Add(1)) },
			S3Options{Endpoint: "http://" + weed.Endpoint, AccessKey: weed.AccessKey, SecretKey: weed.SecretKey, MaxRetries: 1}),
	} {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range conformanceCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, b.open(t)) })
			}
		})
	}
}

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, s *artifacts)
}{
	{"model round trip", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		v := version(t, 0, "abc")
		in := manifest(refA, v, true)
		in.Metrics["coverage"] = 0.93
		model := modelBytes("a")
		put, err := s.PutModel(ctx, in, model)
		if err != nil {
			t.Fatal(err)
		}
		want := in
		want.ModelSHA256 = digest(model)
		want.ModelSize = int64(len(model))
		if !reflect.DeepEqual(put, want) {
			t.Fatalf("PutModel returned\n%+v\nwant\n%+v", put, want)
		}
		got, b, err := s.GetModel(ctx, refA, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, model) {
			t.Fatalf("model bytes differ")
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("GetModel manifest\n%+v\nwant\n%+v", got, want)
		}
		m, err := s.GetManifest(ctx, refA, v)
		if err != nil || !reflect.DeepEqual(m, want) {
			t.Fatalf("GetManifest = %+v, %v", m, err)
		}
	}},
	{"model version and created filled in", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		s.entropy = strings.NewReader("\x01\x02\x03")
		in := manifest(refA, "", false)
		in.Created = time.Time{}
		put, err := s.PutModel(ctx, in, modelBytes("x"))
		if err != nil {
			t.Fatal(err)
		}
		if put.Version != "20261129T170655.123Z-010203" || !put.Created.Equal(t0) {
			t.Fatalf("version %q created %v, want 20261129T170655.123Z-010203 and %v", put.Version, put.Created, t0)
		}
		if _, _, err := s.GetModel(ctx, refA, put.Version); err != nil {
			t.Fatal(err)
		}
	}},
	{"plugin round trip and latest", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		// Stored out of order; 1.10.0 is newer than 1.9.0 and than 1.10.0-rc.1.
		for _, pv := range []struct{ name, version string }{
			{"seasonal-naive", "1.10.0"}, {"prophet", "1.0.0"}, {"seasonal-naive", "1.9.0"},
			{"seasonal-naive", "1.10.0-rc.1"}, {"prophet", "0.9.0"},
		} {
			wasm := wasmBytes(pv.name + pv.version)
			meta, err := s.PutPlugin(ctx, pluginMeta(pv.name, pv.version), wasm)
			if err != nil {
				t.Fatal(err)
			}
			if meta.SHA256 != digest(wasm) || meta.Size != int64(len(wasm)) || !meta.Created.Equal(t0) {
				t.Fatalf("PutPlugin %s %s: sha256 %s size %d created %v", pv.name, pv.version, meta.SHA256, meta.Size, meta.Created)
			}
		}
		list, err := s.ListPlugins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, m := range list {
			order = append(order, m.Name+"@"+m.Version)
		}
		want := []string{"prophet@0.9.0", "prophet@1.0.0", "seasonal-naive@1.9.0", "seasonal-naive@1.10.0-rc.1", "seasonal-naive@1.10.0"}
		if !reflect.DeepEqual(order, want) {
			t.Fatalf("ListPlugins order %v, want %v", order, want)
		}
		for _, v := range []string{"", LatestVersion, "1.10.0"} {
			meta, wasm, err := s.GetPlugin(ctx, "seasonal-naive", v)
			if err != nil {
				t.Fatalf("GetPlugin %q: %v", v, err)
			}
			if meta.Version != "1.10.0" || !bytes.Equal(wasm, wasmBytes("seasonal-naive1.10.0")) {
				t.Fatalf("GetPlugin %q: got version %s", v, meta.Version)
			}
			want := pluginMeta("seasonal-naive", "1.10.0")
			want.SHA256, want.Size, want.Created = digest(wasm), int64(len(wasm)), t0
			if !reflect.DeepEqual(meta, want) {
				t.Fatalf("GetPlugin meta\n%+v\nwant\n%+v", meta, want)
			}
		}
		if latest, ok := LatestPlugin(list, "prophet"); !ok || latest.Version != "1.0.0" {
			t.Fatalf("LatestPlugin prophet = %s, %v", latest.Version, ok)
		}
	}},
	{"existing model version refused and kept", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		v := version(t, 0, "abc")
		first := manifest(refA, v, true)
		if _, err := s.PutModel(ctx, first, modelBytes("first")); err != nil {
			t.Fatal(err)
		}
		second := manifest(refA, v, false)
		second.CreatedBy = "intruder"
		_, err := s.PutModel(ctx, second, modelBytes("second"))
		if !errors.Is(err, ErrExists) {
			t.Fatalf("second PutModel: %v, want ErrExists", err)
		}
		if !strings.Contains(err.Error(), "models/shop/checkout-rps/"+v+"/manifest.json") {
			t.Fatalf("error %q does not name the manifest", err)
		}
		m, b, err := s.GetModel(ctx, refA, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, modelBytes("first")) || m.CreatedBy != first.CreatedBy || m.Rejected() {
			t.Fatalf("first version changed: %q by %s", b, m.CreatedBy)
		}
	}},
	{"existing plugin version refused and kept", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		if _, err := s.PutPlugin(ctx, pluginMeta("prophet", "1.0.0"), wasmBytes("first")); err != nil {
			t.Fatal(err)
		}
		_, err := s.PutPlugin(ctx, pluginMeta("prophet", "1.0.0"), wasmBytes("second"))
		if !errors.Is(err, ErrExists) {
			t.Fatalf("second PutPlugin: %v, want ErrExists", err)
		}
		_, wasm, err := s.GetPlugin(ctx, "prophet", "1.0.0")
		if err != nil || !bytes.Equal(wasm, wasmBytes("first")) {
			t.Fatalf("first version changed or unreadable: %v", err)
		}
	}},
	{"versions sorted and latest", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		if vs, err := s.ListModelVersions(ctx, refA); err != nil || len(vs) != 0 {
			t.Fatalf("empty store: versions %v, %v", vs, err)
		}
		if _, err := s.Latest(ctx, refA, false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Latest of empty store: %v, want ErrNotFound", err)
		}
		// Versions one hour apart; the newest is rejected; 10 ms apart at
		// the end to check the millisecond resolution.
		v := []string{
			version(t, 0, "zzz"), version(t, time.Hour, "aaa"), version(t, 2*time.Hour, "mmm"),
			version(t, 2*time.Hour+10*time.Millisecond, "000"),
		}
		accepted := []bool{true, true, true, false}
		for _, i := range []int{2, 0, 3, 1} {
			if _, err := s.PutModel(ctx, manifest(refA, v[i], accepted[i]), modelBytes(v[i])); err != nil {
				t.Fatal(err)
			}
		}
		// Another model's versions stay out of the list.
		if _, err := s.PutModel(ctx, manifest(refB, version(t, 3*time.Hour, "bbb"), true), modelBytes("b")); err != nil {
			t.Fatal(err)
		}
		got, err := s.ListModelVersions(ctx, refA)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("versions %v, want %v", got, v)
		}
		for _, c := range []struct {
			acceptedOnly bool
			want         string
		}{{false, v[3]}, {true, v[2]}} {
			m, err := s.Latest(ctx, refA, c.acceptedOnly)
			if err != nil {
				t.Fatal(err)
			}
			if m.Version != c.want {
				t.Fatalf("Latest(acceptedOnly=%v) = %s, want %s", c.acceptedOnly, m.Version, c.want)
			}
		}
	}},
	{"latest accepted when all rejected", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		v := version(t, 0, "abc")
		if _, err := s.PutModel(ctx, manifest(refA, v, false), modelBytes("a")); err != nil {
			t.Fatal(err)
		}
		if m, err := s.Latest(ctx, refA, false); err != nil || m.Version != v || !m.Rejected() {
			t.Fatalf("Latest(false) = %s, %v", m.Version, err)
		}
		_, err := s.Latest(ctx, refA, true)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no accepted version") {
			t.Fatalf("Latest(true): %v, want ErrNotFound naming no accepted version", err)
		}
	}},
	{"corrupted model detected", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		v := version(t, 0, "abc")
		model := modelBytes("a")
		if _, err := s.PutModel(ctx, manifest(refA, v, true), model); err != nil {
			t.Fatal(err)
		}
		key := modelKey(refA, v, modelFile)
		flipped := bytes.Clone(model)
		flipped[7] ^= 1
		for _, bad := range [][]byte{flipped, append(bytes.Clone(model), 'x'), model[:10]} {
			overwrite(t, s, key, bad)
			_, _, err := s.GetModel(ctx, refA, v)
			if !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("GetModel of %d tampered bytes: %v, want ErrDigestMismatch", len(bad), err)
			}
			if !strings.Contains(err.Error(), s.obj.location(key)) {
				t.Fatalf("error %q does not name %s", err, s.obj.location(key))
			}
		}
		// The manifest alone is still readable.
		if _, err := s.GetManifest(ctx, refA, v); err != nil {
			t.Fatal(err)
		}
	}},
	{"corrupted plugin detected", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		wasm := wasmBytes("p")
		if _, err := s.PutPlugin(ctx, pluginMeta("prophet", "1.0.0"), wasm); err != nil {
			t.Fatal(err)
		}
		key := pluginKey("prophet", "1.0.0", pluginWasmFile)
		bad := bytes.Clone(wasm)
		bad[len(bad)-1] ^= 0xff
		overwrite(t, s, key, bad)
		_, _, err := s.GetPlugin(ctx, "prophet", "1.0.0")
		if !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), s.obj.location(key)) {
			t.Fatalf("GetPlugin of tampered wasm: %v, want ErrDigestMismatch naming %s", err, s.obj.location(key))
		}
	}},
	{"not found", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		v := version(t, 0, "abc")
		if _, err := s.PutModel(ctx, manifest(refA, v, true), modelBytes("a")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutPlugin(ctx, pluginMeta("prophet", "1.0.0"), wasmBytes("p")); err != nil {
			t.Fatal(err)
		}
		for name, f := range map[string]func() error{
			"model version":  func() error { _, _, err := s.GetModel(ctx, refA, version(t, time.Hour, "abc")); return err },
			"model":          func() error { _, _, err := s.GetModel(ctx, refB, v); return err },
			"manifest":       func() error { _, err := s.GetManifest(ctx, refB, v); return err },
			"latest":         func() error { _, err := s.Latest(ctx, refB, false); return err },
			"plugin version": func() error { _, _, err := s.GetPlugin(ctx, "prophet", "2.0.0"); return err },
			"plugin":         func() error { _, _, err := s.GetPlugin(ctx, "arima", "1.0.0"); return err },
			"plugin latest":  func() error { _, _, err := s.GetPlugin(ctx, "arima", LatestVersion); return err },
		} {
			if err := f(); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", name, err)
			}
		}
	}},
	{"uncommitted payload is invisible", func(t *testing.T, s *artifacts) {
		// A writer that died after the payload and before the manifest.
		ctx := context.Background()
		v := version(t, 0, "abc")
		if err := s.obj.create(ctx, modelKey(refA, v, modelFile), modelBytes("orphan")); err != nil {
			t.Fatal(err)
		}
		if err := s.obj.create(ctx, pluginKey("prophet", "1.0.0", pluginWasmFile), wasmBytes("orphan")); err != nil {
			t.Fatal(err)
		}
		if vs, err := s.ListModelVersions(ctx, refA); err != nil || len(vs) != 0 {
			t.Fatalf("versions %v, %v; want none", vs, err)
		}
		if _, _, err := s.GetModel(ctx, refA, v); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetModel: %v, want ErrNotFound", err)
		}
		if ps, err := s.ListPlugins(ctx); err != nil || len(ps) != 0 {
			t.Fatalf("plugins %v, %v; want none", ps, err)
		}
		if _, _, err := s.GetPlugin(ctx, "prophet", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("GetPlugin latest: %v, want ErrNotFound", err)
		}
	}},
	{"failed commit withdraws the payload", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		v := version(t, 0, "abc")
		boom := errors.New("boom")
		s.afterPayload = func(string) error { return boom }
		if _, err := s.PutModel(ctx, manifest(refA, v, true), modelBytes("a")); !errors.Is(err, boom) {
			t.Fatalf("PutModel: %v, want boom", err)
		}
		if _, err := s.PutPlugin(ctx, pluginMeta("prophet", "1.0.0"), wasmBytes("a")); !errors.Is(err, boom) {
			t.Fatalf("PutPlugin: %v, want boom", err)
		}
		s.afterPayload = nil
		if vs, err := s.ListModelVersions(ctx, refA); err != nil || len(vs) != 0 {
			t.Fatalf("versions %v, %v; want none", vs, err)
		}
		// Nothing is left behind, so the same version can be written now.
		if _, err := s.PutModel(ctx, manifest(refA, v, true), modelBytes("b")); err != nil {
			t.Fatal(err)
		}
		if _, b, err := s.GetModel(ctx, refA, v); err != nil || !bytes.Equal(b, modelBytes("b")) {
			t.Fatalf("GetModel after retry: %v", err)
		}
		if _, err := s.PutPlugin(ctx, pluginMeta("prophet", "1.0.0"), wasmBytes("b")); err != nil {
			t.Fatal(err)
		}
	}},
	{"concurrent writers of one version", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		v := version(t, 0, "abc")
		const writers = 8
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				m := manifest(refA, v, true)
				m.CreatedBy = fmt.Sprint("writer-", i)
				_, errs[i] = s.PutModel(ctx, m, modelBytes(fmt.Sprint(i)))
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("writers %d and %d both won", winner, i)
				}
				winner = i
			case !errors.Is(err, ErrExists):
				t.Fatalf("writer %d: %v, want ErrExists", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no writer won")
		}
		m, b, err := s.GetModel(ctx, refA, v)
		if err != nil {
			t.Fatal(err)
		}
		if m.CreatedBy != fmt.Sprint("writer-", winner) || !bytes.Equal(b, modelBytes(fmt.Sprint(winner))) {
			t.Fatalf("stored version is %s's, winner was writer-%d", m.CreatedBy, winner)
		}
	}},
	{"invalid input refused without writing", func(t *testing.T, s *artifacts) {
		ctx := context.Background()
		v := version(t, 0, "abc")
		noPlugin := manifest(refA, v, true)
		noPlugin.Plugin.Name = ""
		badDigest := manifest(refA, v, true)
		badDigest.ModelSHA256 = digest([]byte("something else"))
		for name, c := range map[string]struct {
			f    func() error
			want error
		}{
			"dot-dot namespace":  {func() error { _, err := s.PutModel(ctx, manifest(ModelRef{"..", "m"}, v, true), nil); return err }, nil},
			"slash in name":      {func() error { _, err := s.PutModel(ctx, manifest(ModelRef{"ns", "a/b"}, v, true), nil); return err }, nil},
			"bad version":        {func() error { _, err := s.PutModel(ctx, manifest(refA, "../x", true), nil); return err }, nil},
			"no plugin":          {func() error { _, err := s.PutModel(ctx, noPlugin, nil); return err }, nil},
			"given sha256 wrong": {func() error { _, err := s.PutModel(ctx, badDigest, modelBytes("a")); return err }, ErrDigestMismatch},
			"plugin latest":      {func() error { _, err := s.PutPlugin(ctx, pluginMeta("p", LatestVersion), nil); return err }, nil},
			"plugin hidden name": {func() error { _, err := s.PutPlugin(ctx, pluginMeta(".p", "1.0.0"), nil); return err }, nil},
			"plugin no abi": {func() error {
				m := pluginMeta("p", "1.0.0")
				m.ABIVersion = ""
				_, err := s.PutPlugin(ctx, m, nil)
				return err
			}, nil},
			"get bad version": {func() error { _, _, err := s.GetModel(ctx, refA, ".."); return err }, nil},
		} {
			err := c.f()
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("%s: %v, want an error (%v)", name, err, c.want)
			}
		}
		for _, prefix := range []string{modelsDir + "/", pluginsDir + "/"} {
			if keys, err := s.obj.list(ctx, prefix); err != nil || len(keys) != 0 {
				t.Fatalf("objects written for invalid input: %v, %v", keys, err)
			}
		}
	}},
}

func TestLocalIgnoresTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	v := version(t, 0, "abc")
	// A writer that died before linking leaves only a temporary file.
	vdir := filepath.Join(dir, "models", refA.Namespace, refA.Name, v)
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{tmpPrefix + "manifest.json-123", tmpPrefix + "model.bin-456"} {
		if err := os.WriteFile(filepath.Join(vdir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if vs, err := s.ListModelVersions(context.Background(), refA); err != nil || len(vs) != 0 {
		t.Fatalf("versions %v, %v; want none", vs, err)
	}
	if _, err := s.PutModel(context.Background(), manifest(refA, v, true), modelBytes("a")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(vdir, modelFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o444 {
		t.Fatalf("model.bin mode %v, want read-only", fi.Mode().Perm())
	}
}
