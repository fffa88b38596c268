package trainer_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/ppa-autoscaler/ppa/host/trainer"
)

// --param and --params both give plugin parameters; --params splits one
// argument at whitespace (what the Argo template passes, without a shell).
func TestFlagsParams(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC) }
	for _, tt := range []struct {
		name    string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{"repeated", []string{"--param", "a=1", "--param", "b=x y"}, map[string]string{"a": "1", "b": "x y"}, ""},
		{"list", []string{"--params", " a=1\tb=2\n c= "}, map[string]string{"a": "1", "b": "2", "c": ""}, ""},
		{"both", []string{"--param", "a=1", "--params", "b=2"}, map[string]string{"a": "1", "b": "2"}, ""},
		{"empty list", []string{"--params", ""}, nil, ""},
		{"list without =", []string{"--params", "a=1 broken"}, nil, `--params "broken": want name=value`},
		{"twice across flags", []string{"--param", "a=1", "--params", "a=2"}, nil, `--params "a=2": parameter "a" given twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			var f trainer.Flags
			f.Register(fs, "test")
			args := append([]string{"--data", "x.csv", "--store", t.TempDir(), "--model", "ns/m"}, tt.args...)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			o, err := f.Options(now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(o.Params, tt.want) {
				t.Errorf("params %v, want %v", o.Params, tt.want)
			}
		})
	}
}
