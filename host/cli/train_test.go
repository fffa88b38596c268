package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestTrainAndStorePlugins(t *testing.T) {
	app := newApp(plugins(t))
	dir := filepath.Join(t.TempDir(), "store")

	// The store starts empty.
	out, _, err := run(app, "plugin", "list", "--store", dir)
	if err != nil || !strings.Contains(out, "no plugins in "+dir) {
		t.Fatalf("list of an empty store: %q, %v", out, err)
	}

	tests := []struct {
		name    string
		args    []string
		wantOut []string
		wantErr string
	}{
		{"train table", []string{"train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "shop/checkout",
			"--plugin", "seasonal-naive", "--param", "season=1d", "--max-mase", "5", "--progress", "none", "--created-by", "cli-test"},
			[]string{"model       shop/checkout", "gate        ACCEPTED (accepted: mase", "published by this run", "72 points, 0 missing", "season=1d"}, ""},
		{"train json, plugin already stored", []string{"train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "shop/checkout",
			"--plugin", "seasonal-naive@1.0.0", "--format", "json", "--progress", "log"},
			[]string{`"rejected": false`, `"plugin_published": false`, `"model": "shop/checkout"`}, ""},
		{"push the stored plugin again", []string{"plugin", "push", "seasonal-naive", "--store", dir},
			[]string{"already stored (same sha256) seasonal-naive 1.0.0"}, ""},
		{"list the store", []string{"plugin", "list", "--store", dir},
			[]string{"NAME", "seasonal-naive  1.0.0", "cli-test"}, ""},
		{"push a file that is not wasm", []string{"plugin", "push", "testdata/hourly.csv", "--store", dir}, nil, "push plugin: "},
		{"push without a store", []string{"plugin", "push", "seasonal-naive"}, nil, `required flag(s) "store" not set`},
		{"train without data", []string{"train", "--store", dir, "--model", "shop/checkout"}, nil, "no data: give --data FILE.csv or --prometheus URL --query PROMQL"},
		{"train with a bad format", []string{"train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "a/b", "--format", "xml"}, nil, `--format "xml"`},
		{"train with a bad progress mode", []string{"train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "a/b", "--progress", "loud"}, nil, `--progress "loud"`},
		// --history, --step and --end were silently ignored with --data.
		{"train with --history and --data", []string{"train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "a/b", "--history", "7d"}, nil, "--history goes with --prometheus, not --data"},
		{"train with --step and --data", []string{"train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "a/b", "--step", "5m"}, nil, "--step goes with --prometheus, not --data"},
		{"train with --end and --data", []string{"train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "a/b", "--end", "2024-03-02T00:00:00Z"}, nil, "--end goes with --prometheus, not --data"},
		{"train with a bad param", []string{"train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "a/b", "--plugin", "seasonal-naive", "--param", "season"}, nil, `--param "season": want name=value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := run(app, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\nstderr:\n%s", err, stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(strings.Join(tt.args, " "), "--progress log") && !strings.Contains(stderr, "stage=upload") {
				t.Errorf("no progress log lines on stderr:\n%s", stderr)
			}
		})
	}

	// Both trainings are versions of the model.
	out, _, err = run(app, "train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "shop/checkout",
		"--plugin", "seasonal-naive", "--format", "json", "--progress", "none", "--version", "fixed")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Version  string `json:"version"`
		Location string `json:"location"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Version != "fixed" ||
		res.Location != filepath.Join(dir, "models", "shop", "checkout", "fixed")+string(filepath.Separator) {
		t.Errorf("result %+v, %v", res, err)
	}
	if _, _, err := run(app, "train", "--data", "testdata/hourly.csv", "--store", dir, "--model", "shop/checkout",
		"--plugin", "seasonal-naive", "--progress", "none", "--version", "fixed"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("training an existing version: %v", err)
	}
}
