package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/promsource"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// trainerQuery selects the backfilled NASA trace.
const trainerQuery = `nasa_http_requests{job="nasa"}`

// trainerPrefix is the store's prefix inside each test bucket.
const trainerPrefix = "ppa"

// trainerEnv is what the trainer tests share: 14 days of the NASA HTTP
// trace (1-minute requests; the July log's end and the Hurricane Erin
// outage are gaps) in a real Prometheus, a real MinIO, and one engine.
type trainerEnv struct {
	nasa   *series.Series
	prom   *testenv.PrometheusServer
	minio  *testenv.MinIOServer
	engine *engine.Engine
	wasm   []byte // seasonal-naive
}

func newTrainerEnv(t *testing.T) *trainerEnv {
	t.Helper()
	nasa, err := series.ReadFile("../../testdata/traces/nasa-http-1m-14d.csv")
	if err != nil {
		t.Fatal(err)
	}
	if nasa.Len() != 20160 || nasa.Step() != time.Minute {
		t.Fatalf("testdata: %d rows every %v, want 20160 every minute", nasa.Len(), nasa.Step())
	}
	env := &trainerEnv{nasa: nasa, wasm: testwasm.Build(t, "./plugins/seasonalnaive/wasm")}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // promtool's backfill takes a while: start MinIO meanwhile
		defer wg.Done()
		env.minio = testenv.MinIO(t)
	}()
	env.prom = testenv.Prometheus(t, testenv.OpenMetrics("nasa_http_requests", map[string]string{"job": "nasa"}, nasa.T, nasa.Y))
	wg.Wait()
	ctx := context.Background()
	if env.engine, err = engine.New(ctx, engine.NewConfig()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.engine.Close(ctx) })
	// A handle that stays open keeps the module compiled across runs.
	if _, err := env.engine.Load(ctx, env.wasm, ""); err != nil {
		t.Fatal(err)
	}
	return env
}

// openStore opens an S3 store on a new bucket of m, with one attempt per
// request so that a dead server fails fast.
func (e *trainerEnv) openStore(t *testing.T, m *testenv.MinIOServer) (store.Store, string) {
	t.Helper()
	bucket := m.NewBucket(t)
	s, err := store.Open(context.Background(), "s3://"+bucket+"/"+trainerPrefix+"?endpoint="+m.Endpoint+"&insecure=true",
		store.WithGetenv(func(string) string { return "" }),
		store.WithS3(store.S3Options{AccessKey: m.AccessKey, SecretKey: m.SecretKey, MaxRetries: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return s, bucket
}

func (e *trainerEnv) options(s store.Store) trainer.Options {
	return trainer.Options{
		Model: store.ModelRef{Namespace: "shop", Name: "checkout"},
		Prometheus: &trainer.PrometheusSource{
			Config:  promsource.Config{URL: e.prom.URL, Retries: -1},
			Query:   trainerQuery,
			History: 14 * 24 * time.Hour,
			Step:    time.Minute,
			End:     e.nasa.Time(e.nasa.Len() - 1),
		},
		Plugin: "seasonal-naive",
		Params: map[string]string{"season": "1d"},
		Store:  s,
		Engine: e.engine,
		Builtin: func(name string) ([]byte, error) {
			if name == "seasonal-naive" {
				return e.wasm, nil
			}
			return nil, fmt.Errorf("built-in plugin %q not found", name)
		},
		CreatedBy: "e2e",
	}
}

// bucketObjects returns every object under the store's prefix (key →
// bytes) and how many versions each key has.
func bucketObjects(t *testing.T, m *testenv.MinIOServer, bucket string) (map[string][]byte, map[string]int) {
	t.Helper()
	ctx := context.Background()
	c := m.Client(t)
	objs := map[string][]byte{}
	versions := map[string]int{}
	for info := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: trainerPrefix + "/", Recursive: true, WithVersions: true}) {
		if info.Err != nil {
			t.Fatalf("list %s: %v", bucket, info.Err)
		}
		versions[info.Key]++
	}
	for info := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: trainerPrefix + "/", Recursive: true}) {
		if info.Err != nil {
			t.Fatalf("list %s: %v", bucket, info.Err)
		}
		o, err := c.GetObject(ctx, bucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatalf("read %s: %v", info.Key, err)
		}
		objs[info.Key] = b
	}
	return objs, versions
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// expectedMissing counts the grid points of s for which Prometheus finds
// no sample within its 5-minute lookback: lo when a sample exactly 5
// minutes old counts (Prometheus 2.x), hi when it does not (3.x).
func expectedMissing(s *series.Series) (lo, hi int) {
	const lookback = 5 * 60 * 1000
	last := int64(math.MinInt64 / 2)
	for i, tm := range s.T {
		if !math.IsNaN(s.Y[i]) {
			last = tm
		}
		switch age := tm - last; {
		case age > lookback:
			lo++
			hi++
		case age == lookback:
			hi++
		}
	}
	return lo, hi
}

func TestTrainer(t *testing.T) {
	env := newTrainerEnv(t)
	ctx := context.Background()

	t.Run("14 days from Prometheus into SeaweedFS", func(t *testing.T) {
		weed := testenv.SeaweedFS(t)
		bucket := weed.NewBucket(t)
		s, err := store.Open(ctx, "s3://"+bucket+"/"+trainerPrefix+"?endpoint="+weed.Endpoint+"&insecure=true",
			store.WithGetenv(func(string) string { return "" }),
			store.WithS3(store.S3Options{AccessKey: weed.AccessKey, SecretKey: weed.SecretKey, MaxRetries: 1}))
		if err != nil {
			t.Fatal(err)
		}
		o := env.options(s)
		res, err := trainer.Run(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Points != 20160 || !res.PluginPublished {
			t.Errorf("fetched %d points, plugin published %v; want 20160, true", res.Points, res.PluginPublished)
		}
		if want := "s3://" + bucket + "/" + trainerPrefix + "/models/shop/checkout/" + res.Version + "/"; res.Location != want {
			t.Errorf("location %q, want %q", res.Location, want)
		}
		// Read back through the store: digests verify, the version lists.
		man, model, err := s.GetModel(ctx, o.Model, res.Version)
		if err != nil {
			t.Fatal(err)
		}
		if sha256Hex(model) != man.ModelSHA256 || man.Version != res.Version || !man.Gate.Accepted || man.Parameters["season"] != "1d" {
			t.Errorf("manifest %+v for %d model bytes", man, len(model))
		}
		if _, wasm, err := s.GetPlugin(ctx, man.Plugin.Name, man.Plugin.Version); err != nil || sha256Hex(wasm) != sha256Hex(env.wasm) {
			t.Errorf("stored plugin: %v (sha256 %s, want %s)", err, sha256Hex(wasm), sha256Hex(env.wasm))
		}
		vs, err := s.ListModelVersions(ctx, o.Model)
		if err != nil || len(vs) != 1 || vs[0] != res.Version {
			t.Errorf("versions %v, %v; want [%s]", vs, err, res.Version)
		}
	})

	t.Run("14 days from Prometheus into MinIO, twice", func(t *testing.T) {
		s, bucket := env.openStore(t, env.minio)
		o := env.options(s)
		var chunks []trainer.Progress
		o.Progress = func(p trainer.Progress) {
			if p.Stage == trainer.StageFetch && p.Done > 0 {
				chunks = append(chunks, p)
			}
		}
		res, err := trainer.Run(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		// The points: the whole window, fetched in two chunks.
		lo, hi := expectedMissing(env.nasa)
		if res.Points != 20160 || res.Missing < lo || res.Missing > hi {
			t.Errorf("fetched %d points, %d missing; want 20160 and %d..%d missing", res.Points, res.Missing, lo, hi)
		}
		if len(chunks) != 2 || chunks[1].Done != 2 || chunks[1].Total != 2 {
			t.Errorf("fetch progress %+v, want chunks 1 and 2 of 2", chunks)
		}
		w := res.Manifest.Data
		if w.Source != "prometheus" || w.Query != trainerQuery || !w.Start.Equal(env.nasa.Time(0)) || !w.End.Equal(env.nasa.Time(20159)) {
			t.Errorf("manifest data window %+v", w)
		}
		// The artifact and manifest are in the bucket, and digests verify.
		prefix := trainerPrefix + "/models/shop/checkout/" + res.Version + "/"
		if want := "s3://" + bucket + "/" + prefix; res.Location != want {
			t.Errorf("location %q, want %q", res.Location, want)
		}
		objs, _ := bucketObjects(t, env.minio, bucket)
		wantKeys := []string{
			prefix + "manifest.json", prefix + "model.bin",
			trainerPrefix + "/plugins/seasonal-naive/1.0.0/plugin.json",
			trainerPrefix + "/plugins/seasonal-naive/1.0.0/plugin.wasm",
		}
		sort.Strings(wantKeys)
		if got := keys(objs); strings.Join(got, " ") != strings.Join(wantKeys, " ") {
			t.Fatalf("bucket holds %q, want %q", got, wantKeys)
		}
		var m store.Manifest
		if err := json.Unmarshal(objs[prefix+"manifest.json"], &m); err != nil {
			t.Fatal(err)
		}
		if got := sha256Hex(objs[prefix+"model.bin"]); got != m.ModelSHA256 || int64(len(objs[prefix+"model.bin"])) != m.ModelSize {
			t.Errorf("model.bin sha256 %s (%d bytes), manifest says %s (%d bytes)", got, len(objs[prefix+"model.bin"]), m.ModelSHA256, m.ModelSize)
		}
		pluginWasm := objs[trainerPrefix+"/plugins/seasonal-naive/1.0.0/plugin.wasm"]
		if got := sha256Hex(pluginWasm); got != m.Plugin.SHA256 || got != sha256Hex(env.wasm) {
			t.Errorf("plugin.wasm sha256 %s, manifest pins %s", got, m.Plugin.SHA256)
		}
		if m.Version != res.Version || !m.Gate.Accepted || m.CreatedBy != "e2e" || m.Parameters["season"] != "1d" {
			t.Errorf("manifest %+v", m)
		}

		// A second run is a second version; the first is untouched.
		res2, err := trainer.Run(ctx, env.options(s))
		if err != nil {
			t.Fatal(err)
		}
		if res2.Version <= res.Version || res2.PluginPublished {
			t.Errorf("second version %s after %s (plugin published again: %v)", res2.Version, res.Version, res2.PluginPublished)
		}
		objs2, versions := bucketObjects(t, env.minio, bucket)
		if len(objs2) != 6 {
			t.Errorf("bucket holds %q after the second run, want 6 objects", keys(objs2))
		}
		for k, b := range objs {
			if !bytes.Equal(objs2[k], b) || versions[k] != 1 {
				t.Errorf("%s changed or was rewritten (%d object versions)", k, versions[k])
			}
		}
		vs, err := s.ListModelVersions(ctx, o.Model)
		if err != nil || len(vs) != 2 || vs[0] != res.Version || vs[1] != res2.Version {
			t.Errorf("versions %v, %v; want [%s %s]", vs, err, res.Version, res2.Version)
		}

		// The stored model forecasts through the engine, with the stored
		// plugin pinned by the manifest: the value one day earlier.
		latest, err := s.Latest(ctx, o.Model, true)
		if err != nil || latest.Version != res2.Version {
			t.Fatalf("latest accepted %s, %v; want %s", latest.Version, err, res2.Version)
		}
		man, model, err := s.GetModel(ctx, o.Model, latest.Version)
		if err != nil {
			t.Fatal(err)
		}
		_, wasm, err := s.GetPlugin(ctx, man.Plugin.Name, man.Plugin.Version)
		if err != nil {
			t.Fatal(err)
		}
		fe, err := engine.New(ctx, engine.NewConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer fe.Close(ctx)
		p, err := fe.Load(ctx, wasm, man.Plugin.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		end := env.nasa.T[env.nasa.Len()-1]
		var at []int64
		for k := int64(1); k <= 120; k++ {
			at = append(at, end+k*60_000)
		}
		resp, err := p.Predict(ctx, &abi.PredictRequest{Model: model, Timestamps: at})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Yhat) != len(at) {
			t.Fatalf("%d forecasts for %d times", len(resp.Yhat), len(at))
		}
		checked := 0
		for i, ts := range at {
			j := env.nasa.Len() - 1 - 1440 + (i + 1)
			if env.nasa.T[j] != ts-86_400_000 {
				t.Fatalf("row %d is at %d, want %d", j, env.nasa.T[j], ts-86_400_000)
			}
			if y := env.nasa.Y[j]; !math.IsNaN(y) {
				checked++
				if resp.Yhat[i] != y {
					t.Errorf("forecast for %s = %v, want the value a day earlier %v", time.UnixMilli(ts).UTC(), resp.Yhat[i], y)
				}
			}
		}
		if checked < 100 {
			t.Errorf("only %d forecasts could be checked", checked)
		}
	})

	t.Run("quality gate", func(t *testing.T) {
		s, bucket := env.openStore(t, env.minio)
		tests := []struct {
			name     string
			season   string
			rejected bool
			reason   string
		}{
			{"daily season is accepted", "1d", false, "accepted: mase 1."},
			{"one-minute season is rejected", "1m", true, "rejected: mase 1."},
		}
		mase := map[string]float64{}
		for _, tt := range tests {
			o := env.options(s)
			o.Params = map[string]string{"season": tt.season}
			o.Gate = trainer.GateLimits{MaxMASE: 1.5}
			res, err := trainer.Run(ctx, o)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			mase[tt.season] = res.Metrics["mase"]
			t.Logf("%s: %s (smape %.3f, rmse %.2f)", tt.name, res.Reason, res.Metrics["smape"], res.Metrics["rmse"])
			if res.Rejected != tt.rejected || !strings.HasPrefix(res.Reason, tt.reason) {
				t.Errorf("%s: rejected %v, reason %q; want %v, %q...", tt.name, res.Rejected, res.Reason, tt.rejected, tt.reason)
			}
			if tt.rejected && !strings.Contains(res.Reason, "above the limit 1.5") {
				t.Errorf("%s: reason %q does not say which limit failed", tt.name, res.Reason)
			}
			// The verdict is in the stored manifest.
			objs, _ := bucketObjects(t, env.minio, bucket)
			var m store.Manifest
			if err := json.Unmarshal(objs[trainerPrefix+"/models/shop/checkout/"+res.Version+"/manifest.json"], &m); err != nil {
				t.Fatal(err)
			}
			if m.Gate.Accepted == tt.rejected || m.Gate.Reason != res.Reason || m.Gate.Limits[trainer.LimitMaxMASE] != 1.5 {
				t.Errorf("%s: stored gate %+v", tt.name, m.Gate)
			}
		}
		// The crippled model really is worse, and is never served.
		if !(mase["1m"] > mase["1d"]*1.1) {
			t.Errorf("MASE with season 1m %.3f is not clearly worse than with 1d %.3f", mase["1m"], mase["1d"])
		}
		latest, err := s.Latest(ctx, store.ModelRef{Namespace: "shop", Name: "checkout"}, true)
		if err != nil || latest.Parameters["season"] != "1d" {
			t.Errorf("latest accepted: %+v, %v; want the daily-season model", latest.Parameters, err)
		}
	})

	t.Run("faults", func(t *testing.T) {
		tests := []struct {
			name string
			// change sets up the fault; it may return the MinIO to use.
			change func(t *testing.T, o *trainer.Options)
			want   []string
			is     error
		}{
			{"prometheus unreachable", func(t *testing.T, o *trainer.Options) {
				o.Prometheus.Config.URL = "http://" + closedAddr(t)
			}, []string{"trainer: fetch: prometheus http://127.0.0.1:", "query_range", "connection refused"}, nil},
			{"query error", func(t *testing.T, o *trainer.Options) {
				o.Prometheus.Query = `rate(nasa_http_requests[5m]`
			}, []string{"trainer: fetch: prometheus", "bad_data", "parse error"}, nil},
			{"query matching nothing", func(t *testing.T, o *trainer.Options) {
				o.Prometheus.Query = `nasa_http_requests{job="none"}`
			}, []string{"trainer: fetch:", "no data"}, promsource.ErrNoData},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, bucket := env.openStore(t, env.minio)
				o := env.options(s)
				tt.change(t, &o)
				_, err := trainer.Run(ctx, o)
				checkErr(t, err, tt.is, tt.want...)
				if objs, _ := bucketObjects(t, env.minio, bucket); len(objs) != 0 {
					t.Errorf("the bucket holds %q after a failed run", keys(objs))
				}
			})
		}

		t.Run("MinIO dies mid-upload", func(t *testing.T) {
			m := testenv.MinIO(t)
			s, bucket := env.openStore(t, m)
			o := env.options(s)
			o.Progress = func(p trainer.Progress) {
				// After the plugin is published, before the model.
				if p.Stage == trainer.StageUpload && p.Done == 1 {
					m.Kill()
				}
			}
			_, err := trainer.Run(ctx, o)
			checkErr(t, err, nil, "trainer: put model shop/checkout", m.Endpoint)
			m.Restart()
			objs, _ := bucketObjects(t, m, bucket)
			for k := range objs {
				if strings.Contains(k, "/models/") {
					t.Errorf("model object %s left after the failed upload", k)
				}
			}
			if len(objs) != 2 {
				t.Errorf("bucket holds %q, want the plugin's two objects", keys(objs))
			}
			// The store works again and the plugin is reused as it is.
			o.Progress = nil
			res, err := trainer.Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.PluginPublished {
				t.Error("the plugin was published again")
			}
			if vs, err := s.ListModelVersions(ctx, o.Model); err != nil || len(vs) != 1 {
				t.Errorf("versions %v, %v; want one", vs, err)
			}
		})

		t.Run("existing version", func(t *testing.T) {
			s, bucket := env.openStore(t, env.minio)
			o := env.options(s)
			o.Version = "v1"
			if _, err := trainer.Run(ctx, o); err != nil {
				t.Fatal(err)
			}
			before, _ := bucketObjects(t, env.minio, bucket)
			o.Params = map[string]string{"season": "7d"}
			_, err := trainer.Run(ctx, o)
			checkErr(t, err, store.ErrExists, "put model shop/checkout v1", "already exists")
			after, versions := bucketObjects(t, env.minio, bucket)
			if len(after) != len(before) {
				t.Errorf("objects %q, want %q", keys(after), keys(before))
			}
			for k, b := range before {
				if !bytes.Equal(after[k], b) || versions[k] != 1 {
					t.Errorf("%s was overwritten (%d object versions)", k, versions[k])
				}
			}
		})

		t.Run("corrupted artifacts on read", func(t *testing.T) {
			s, bucket := env.openStore(t, env.minio)
			o := env.options(s)
			res, err := trainer.Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			c := env.minio.Client(t)
			put := func(key string, b []byte) {
				t.Helper()
				if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			// Flip one byte of the stored plugin and of the model.
			wasm := append([]byte{}, env.wasm...)
			wasm[len(wasm)/2] ^= 0xff
			put(trainerPrefix+"/plugins/seasonal-naive/1.0.0/plugin.wasm", wasm)
			_, model, err := s.GetModel(ctx, o.Model, res.Version)
			if err != nil {
				t.Fatal(err)
			}
			model = append([]byte{}, model...)
			model[len(model)-1] ^= 0xff
			modelKey := trainerPrefix + "/models/shop/checkout/" + res.Version + "/model.bin"
			put(modelKey, model)

			o.Plugin = "seasonal-naive@1.0.0"
			_, err = trainer.Run(ctx, o)
			checkErr(t, err, store.ErrDigestMismatch, "s3://"+bucket+"/"+trainerPrefix+"/plugins/seasonal-naive/1.0.0/plugin.wasm", "recorded")
			_, _, err = s.GetModel(ctx, o.Model, res.Version)
			checkErr(t, err, store.ErrDigestMismatch, "s3://"+bucket+"/"+modelKey, "recorded")
			if vs, err := s.ListModelVersions(ctx, o.Model); err != nil || len(vs) != 1 {
				t.Errorf("versions %v, %v; want only the first", vs, err)
			}
		})
	})
}

// checkErr fails t unless err is an error wrapping is (when not nil) whose
// message contains each of want.
func checkErr(t *testing.T, err error, is error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	t.Logf("error: %v", err)
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q does not wrap %q", err, is)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
