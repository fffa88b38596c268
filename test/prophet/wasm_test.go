package prophet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
	"github.com/ppa-autoscaler/ppa/plugins/prophet"
)

func loadSeries(t *testing.T, path string, rows int) ([]int64, []float64) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ts []int64
	var ys []float64
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Scan() // header
	for sc.Scan() && len(ts) < rows {
		parts := strings.Split(sc.Text(), ",")
		tm, err := time.Parse("2006-01-02", parts[0])
		if err != nil {
			t.Fatal(err)
		}
		y, err := strconv.ParseFloat(parts[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tm.UnixMilli())
		ys = append(ys, y)
	}
	return ts, ys
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestWasmBitIdentical runs the plugin natively and compiled to
// WebAssembly (through the host engine) on the same requests and requires
// identical model bytes and bit-identical forecasts and intervals. The
// L-BFGS case is chaotic (a 1e-15 change of the start moves the forecast
// visibly), so it catches any difference in the numeric core.
func TestWasmBitIdentical(t *testing.T) {
	ctx := context.Background()
	wasm := testwasm.Build(t, "./plugins/prophet/wasm")
	e, err := engine.New(ctx, engine.NewConfig().WithPoolSize(1).WithCallTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	guest, err := e.Load(ctx, wasm, engine.Digest(wasm))
	if err != nil {
		t.Fatal(err)
	}
	native := prophet.NewPlugin()
	if !reflect.DeepEqual(normalize(t, guest.Description()), normalize(t, native.Describe())) {
		t.Errorf("descriptions differ:\nwasm   %+v\nnative %+v", guest.Description(), native.Describe())
	}

	ts, ys := loadSeries(t, "../../plugins/prophet/testdata/data.csv", 510)
	ts3, ys3 := loadSeries(t, "../../plugins/prophet/testdata/data3.csv", 70)
	tests := []struct {
		name   string
		params string
		ts     []int64
		ys     []float64
		train  int
	}{
		{"lbfgs absmax", `{}`, ts, ys, 480},
		{"logistic multiplicative", `{"growth":"logistic","cap":80,"seasonality_mode":"multiplicative"}`, ts, ys, 480},
		{"large numbers, newton", `{"sig_figs":6,"scaling":"minmax"}`, ts3, ys3, 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ps abi.Params
			if err := json.Unmarshal([]byte(tc.params), &ps); err != nil {
				t.Fatal(err)
			}
			req := &abi.TrainRequest{Params: ps, Seed: 1, Timestamps: tc.ts[:tc.train], Values: tc.ys[:tc.train]}
			want, err := native.Train(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := guest.Train(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Model, want.Model) {
				t.Fatalf("model bytes differ:\nwasm   %s\nnative %s", got.Model, want.Model)
			}
			future := make([]int64, 0, 60)
			for i := tc.train - 20; i < len(tc.ts); i++ {
				future = append(future, tc.ts[i])
			}
			preq := &abi.PredictRequest{Model: want.Model, Seed: 99, Timestamps: future}
			pw, err := native.Predict(preq)
			if err != nil {
				t.Fatal(err)
			}
			pg, err := guest.Predict(ctx, preq)
			if err != nil {
				t.Fatal(err)
			}
			if !sameBits(pg.Yhat, pw.Yhat) || !sameBits(pg.Lower, pw.Lower) || !sameBits(pg.Upper, pw.Upper) {
				t.Errorf("forecasts differ:\nwasm   %v\nnative %v", pg.Yhat, pw.Yhat)
			}
		})
	}
}

// normalize round-trips a description through JSON, as the wire does.
func normalize(t *testing.T, d abi.Description) abi.Description {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var out abi.Description
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
