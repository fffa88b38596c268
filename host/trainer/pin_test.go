package trainer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
)

// runWithFlags trains the NASA slice with ppa-trainer's flags args (plus
// --data, --model and --store dir) and returns the result or error.
func runWithFlags(t *testing.T, dir string, args ...string) (*trainer.Result, error) {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var f trainer.Flags
	f.Register(fs, "test")
	if err := fs.Parse(append([]string{"--data", nasaCSV, "--model", "shop/checkout", "--store", dir}, args...)); err != nil {
		t.Fatal(err)
	}
	o, err := f.Options(clock)
	if err != nil {
		return nil, err
	}
	s, err := f.OpenStore(context.Background(), store.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	o.Store, o.Engine = s, sharedEngine(t)
	return trainer.Run(context.Background(), o)
}

// TestPluginPin: a Forecaster's sha256 reaches the trainer (--plugin-sha256)
// and every load checks it, whether the plugin comes from the store, from
// the Forecaster's uri (--plugin-uri, then published to the store) or is
// built in.
func TestPluginPin(t *testing.T) {
	wasm := seasonalNaive(t)
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	other := strings.Repeat("0", 64)
	file := filepath.Join(t.TempDir(), "plugin.wasm")
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/plugin.wasm" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(wasm)
	}))
	defer srv.Close()
	version := seasonalnaive.Version
	ref := "seasonal-naive@" + version

	for _, tt := range []struct {
		name      string
		stored    bool // the store holds the plugin beforehand
		args      []string
		wantErr   error
		wantInErr string
	}{
		{"stored, pinned", true, []string{"--plugin", ref, "--plugin-sha256", digest}, nil, ""},
		{"stored, other pin", true, []string{"--plugin", ref, "--plugin-sha256", other}, store.ErrDigestMismatch, "pins " + other},
		{"fetched from file uri", false, []string{"--plugin", ref, "--plugin-sha256", digest, "--plugin-uri", "file://" + file}, nil, ""},
		{"fetched over http", false, []string{"--plugin", ref, "--plugin-sha256", digest, "--plugin-uri", srv.URL + "/plugin.wasm"}, nil, ""},
		{"fetched, other pin", false, []string{"--plugin", ref, "--plugin-sha256", other, "--plugin-uri", "file://" + file}, store.ErrDigestMismatch, "pins " + other},
		{"uri missing", false, []string{"--plugin", ref, "--plugin-sha256", digest, "--plugin-uri", srv.URL + "/gone.wasm"}, nil, "404"},
		{"remote uri without pin", false, []string{"--plugin", ref, "--plugin-uri", srv.URL + "/plugin.wasm"}, nil, "needs --plugin-sha256"},
		{"bad pin", false, []string{"--plugin", ref, "--plugin-sha256", "ABC"}, nil, "64 lower-case hex"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.stored {
				s, err := store.Open(context.Background(), dir)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.PutPlugin(context.Background(), store.PluginMeta{Name: "seasonal-naive", Version: version, ABIVersion: abi.VersionString(abi.Version)}, wasm); err != nil {
					t.Fatal(err)
				}
			}
			res, err := runWithFlags(t, dir, tt.args...)
			if tt.wantErr != nil || tt.wantInErr != "" {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantInErr) {
					t.Fatalf("error %v, want %v containing %q", err, tt.wantErr, tt.wantInErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Manifest.Plugin.SHA256; got != digest {
				t.Errorf("trained with plugin %+v, want sha256 %s", res.Manifest.Plugin, digest)
			}
			// Fetched plugins are published: the store now holds them.
			s, err := store.Open(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if m, _, err := s.GetPlugin(context.Background(), "seasonal-naive", version); err != nil || m.SHA256 != digest {
				t.Errorf("store after training: %+v %v", m, err)
			}
		})
	}
}
