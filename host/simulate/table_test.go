package simulate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestWriteTable compares the table of the step-change case, plain and as a
// sweep, with testdata/*.golden (regenerate with go test -update).
func TestWriteTable(t *testing.T) {
	y := concat(repeat(20, 20), repeat(50, 15), repeat(20, 15))
	s := trace(time.Minute, y...)
	for _, tt := range []struct {
		golden string
		sweep  bool
	}{{"table.golden", false}, {"table-sweep.golden", true}} {
		o := options(s, newPerfect(s.T, s.Y, 0))
		o.Label = "perfect 1.0.0"
		o.MaxReplicas = 20
		o.Decision.ReactiveFloor = true
		o.TargetUtilization = 0.8
		o.Sweep, o.Utilizations = tt.sweep, []float64{0.5, 0.8, 1}
		res := run(t, o)
		var buf bytes.Buffer
		if err := res.WriteTable(&buf); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", tt.golden)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", tt.golden, buf.Bytes(), want)
		}
	}
}
