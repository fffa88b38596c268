package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "seasonal-naive.wasm")
	if err := os.WriteFile(plugin, testwasm.Build(t, "./plugins/seasonalnaive/wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	csv := filepath.Join(dir, "data.csv")
	var b strings.Builder
	b.WriteString("ds,y\n")
	// Three days of an hourly sawtooth with some deterministic noise.
	for h := 0; h < 72; h++ {
		b.WriteString(fmt.Sprintf("2026-01-%02dT%02d:00:00Z,%d\n", 1+h/24, h%24, 10*(h%24)+(h*h)%7))
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(dir, "store")
	resultFile := filepath.Join(dir, "result.json")
	base := []string{"--data", csv, "--store", storeDir, "--model", "ns/m", "--plugin", plugin, "--log-level", "warn"}

	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   string
		rejected bool
	}{
		{"accepted", append(base, "--result-file", resultFile, "--param", "season=1d", "--max-mase", "2"), 0, "", false},
		{"rejected by the gate", append(base, "--param", "season=1h", "--max-mase", "0.5"), 0, "", true},
		{"bad flag", append(base, "--max-mase", "x"), 2, `invalid argument "x"`, false},
		{"no model", []string{"--data", csv, "--store", storeDir}, 2, "--model NAMESPACE/NAME is required", false},
		{"both sources", append(base, "--prometheus", "http://127.0.0.1:1"), 2, "give one data source", false},
		{"training fails", append(base, "--param", "nope=1"), 1, `parameter "nope": unknown`, false},
		{"stray argument", append(base, "extra"), 2, "unexpected arguments: extra", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
			if code != 0 {
				if stdout.Len() != 0 {
					t.Errorf("stdout after a failure: %s", stdout.String())
				}
				return
			}
			var res struct {
				Version  string             `json:"version"`
				Rejected bool               `json:"rejected"`
				Reason   string             `json:"reason"`
				Metrics  map[string]any     `json:"metrics"`
				Location string             `json:"location"`
				Timings  map[string]float64 `json:"timings"`
				Policy   map[string]any     `json:"policy"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("stdout is not the JSON result: %v\n%s", err, stdout.String())
			}
			if res.Version == "" || res.Rejected != tt.rejected || res.Metrics["mase"] == nil ||
				!strings.HasPrefix(res.Location, storeDir) || len(res.Timings) != 6 || res.Policy == nil || res.Policy["mode"] == nil {
				t.Errorf("result %+v", res)
			}
			if _, err := os.Stat(filepath.Join(res.Location, "manifest.json")); err != nil {
				t.Errorf("manifest: %v", err)
			}
		})
	}
	b2, err := os.ReadFile(resultFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b2, []byte(`"rejected": false`)) {
		t.Errorf("result file:\n%s", b2)
	}
}
