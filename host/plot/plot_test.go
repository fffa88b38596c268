package plot

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func sine(n int, step time.Duration, amp float64) Line {
	l := Line{Name: "demand"}
	for i := range n {
		l.T = append(l.T, t0.Add(time.Duration(i)*step).UnixMilli())
		l.Y = append(l.Y, 100+amp*math.Sin(2*math.Pi*float64(i)/1440))
	}
	return l
}

func charts(t *testing.T, n int) []*Chart {
	t.Helper()
	demand := sine(n, time.Minute, 50)
	demand.Y[n/3] = math.NaN() // a gap
	capacity := Line{Name: "reactive ready capacity", T: demand.T, Y: make([]float64, n)}
	for i := range capacity.Y {
		capacity.Y[i] = 10 * math.Ceil((100+50*math.Sin(2*math.Pi*float64(i-5)/1440))/8)
	}
	tl, err := Timeline("demand and ready capacity", "requests/min", []Line{demand, capacity}, true)
	if err != nil {
		t.Fatal(err)
	}
	to, err := Tradeoff("trade-off", "replica-hours", "under-provisioned minutes", []Curve{
		{Name: "reactive", X: []float64{200, 150, 100}, Y: []float64{10, 40, 100}, Labels: []string{"0.5", "0.75", "1"}},
		{Name: "predictive", X: []float64{190, 140, 95}, Y: []float64{2, 15, 60}},
	})
	if err != nil {
		t.Fatal(err)
	}
	band := Band{Name: "forecast", T: demand.T, Yhat: make([]float64, n), Lower: make([]float64, n), Upper: make([]float64, n)}
	for i := range band.T {
		band.Yhat[i] = 100 + 45*math.Sin(2*math.Pi*float64(i)/1440)
		band.Lower[i], band.Upper[i] = band.Yhat[i]-15, band.Yhat[i]+15
	}
	band.Lower[n/2] = math.NaN()
	fc, err := Forecast("forecast vs actual", "requests/min", demand, band)
	if err != nil {
		t.Fatal(err)
	}
	return []*Chart{tl, to, fc}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	// 3000 points are drawn as they are; 20000 go through the envelope.
	for _, n := range []int{3000, 20000} {
		for _, ext := range []string{"png", "svg", "html"} {
			path := filepath.Join(dir, "out."+ext)
			if err := Save(path, "PPA test", charts(t, n)...); err != nil {
				t.Fatalf("n=%d %s: %v", n, ext, err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 1000 {
				t.Fatalf("n=%d %s: only %d bytes", n, ext, len(b))
			}
			switch ext {
			case "png":
				img, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("png.Decode: %v", err)
				}
				if r := img.Bounds(); r.Dx() < 500 || r.Dy() < 3*r.Dx()/4 {
					t.Errorf("png size %v: want three stacked charts", r)
				}
			case "svg":
				checkXML(t, bytes.NewReader(b))
				if !strings.Contains(string(b), "under-provisioned minutes") {
					t.Error("svg lacks the trade-off axis label")
				}
			case "html":
				s := string(b)
				if !strings.HasPrefix(s, "<!DOCTYPE html>") || !strings.Contains(s, "<title>PPA test</title>") {
					t.Errorf("html head: %.200s", s)
				}
				i, j := strings.Index(s, "<svg"), strings.LastIndex(s, "</svg>")
				if i < 0 || j < i {
					t.Fatal("html has no svg")
				}
				checkXML(t, strings.NewReader(s[i:j+len("</svg>")]))
			}
			if n == 20000 && ext == "svg" && len(b) > 3<<20 {
				t.Errorf("svg of 20000 points is %d bytes: the envelope should keep it small", len(b))
			}
		}
	}
}

func checkXML(t *testing.T, r io.Reader) {
	t.Helper()
	d := xml.NewDecoder(r)
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := FormatOf("x.pdf"); err == nil {
		t.Error("FormatOf(.pdf) accepted")
	}
	if f, err := FormatOf("x.SVG"); err != nil || f != "svg" {
		t.Errorf("FormatOf(.SVG) = %q, %v", f, err)
	}
	if err := Save(filepath.Join(t.TempDir(), "x.gif"), "t", charts(t, 100)...); err == nil || !strings.Contains(err.Error(), ".gif") {
		t.Errorf("Save(.gif) = %v", err)
	}
	if err := Write(io.Discard, "svg", "t"); err == nil {
		t.Error("Write with no chart accepted")
	}
	if _, err := Timeline("t", "y", []Line{{Name: "bad", T: []int64{1}, Y: nil}}, false); err == nil {
		t.Error("Timeline accepted misaligned line")
	}
	if _, err := Tradeoff("t", "x", "y", []Curve{{Name: "bad", X: []float64{1}, Y: []float64{1, 2}}}); err == nil {
		t.Error("Tradeoff accepted misaligned curve")
	}
	if _, err := Forecast("t", "y", Line{}, Band{T: []int64{1}, Yhat: []float64{1}, Lower: []float64{1, 2}}); err == nil {
		t.Error("Forecast accepted misaligned band")
	}
}

func TestEnvelope(t *testing.T) {
	nan := math.NaN()
	tt := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}
	y := []float64{5, 1, 9, nan, nan, nan, 3, 3, 2}
	gt, gy := envelope(tt, y, 3)
	// Buckets of 3: [5 1 9] → 1 at 1, 9 at 2; [NaN×3] → a break at 3;
	// [3 3 2] → the maximum 3 (first at 6) before the minimum 2 at 8.
	wantT := []int64{1, 2, 3, 6, 8}
	wantY := []float64{1, 9, nan, 3, 2}
	if len(gt) != len(wantT) {
		t.Fatalf("envelope = %v %v, want %v %v", gt, gy, wantT, wantY)
	}
	for i := range wantT {
		if gt[i] != wantT[i] || !(gy[i] == wantY[i] || math.IsNaN(gy[i]) && math.IsNaN(wantY[i])) {
			t.Errorf("envelope point %d = (%d, %g), want (%d, %g)", i, gt[i], gy[i], wantT[i], wantY[i])
		}
	}
}
