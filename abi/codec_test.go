package abi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestSpecWorkedExample pins the byte layout shown in SPEC.md.
func TestSpecWorkedExample(t *testing.T) {
	req := &TrainRequest{
		Params:     Params{"season": "1d"},
		Seed:       7,
		Timestamps: []int64{1700000000000, 1700000060000},
		Values:     []float64{1.5, math.NaN()},
	}
	got, err := EncodeTrainRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	want := "23000000" + hex.EncodeToString([]byte(`{"params":{"season":"1d"},"seed":7}`)) +
		"02000000" + "0068e5cf8b010000" + "6052e6cf8b010000" +
		"02000000" + "000000000000f83f" + "010000000000f87f" +
		"00000000"
	// NaN bits depend on how the NaN was made; compare everything else and the NaN separately.
	gotHex := hex.EncodeToString(got)
	if gotHex[:len(gotHex)-32] != want[:len(want)-32] {
		t.Fatalf("encoding differs from SPEC.md\n got %s\nwant %s", gotHex, want)
	}
	back, err := DecodeTrainRequest(got)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(back.Values[1]) || back.Values[0] != 1.5 {
		t.Fatalf("values = %v", back.Values)
	}
	res := EncodeResult(StatusOK, mustEncodeTrainResponse(t, &TrainResponse{Model: []byte{1, 2, 3}}))
	if h := hex.EncodeToString(res); h != "00000000"+"020000007b7d"+"03000000010203" {
		t.Fatalf("train result = %s", h)
	}
}

func mustEncodeTrainResponse(t *testing.T, r *TrainResponse) []byte {
	t.Helper()
	b, err := EncodeTrainResponse(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	tr := &TrainRequest{
		Params:     Params{"a": 1.0, "b": "x", "c": true},
		Seed:       1 << 60,
		Timestamps: []int64{-1, 0, 1},
		Values:     []float64{1, 2, 3},
		Columns:    []Column{{Name: "cap", Values: []float64{9, 9, 9}}},
	}
	b, err := EncodeTrainRequest(tr)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTrainRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tr) {
		t.Fatalf("train request round trip:\n got %+v\nwant %+v", got, tr)
	}

	pr := &PredictRequest{Model: []byte("m"), Seed: 3, Timestamps: []int64{5, 6}}
	b, err = EncodePredictRequest(pr)
	if err != nil {
		t.Fatal(err)
	}
	gp, err := DecodePredictRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gp, pr) {
		t.Fatalf("predict request round trip:\n got %+v\nwant %+v", gp, pr)
	}

	for _, resp := range []*PredictResponse{
		{Yhat: []float64{1, 2}, Lower: []float64{0, 1}, Upper: []float64{2, 3}},
		{Yhat: []float64{1, 2}},
	} {
		b, err := EncodePredictResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		g, err := DecodePredictResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, resp) {
			t.Fatalf("predict response round trip:\n got %+v\nwant %+v", g, resp)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := EncodePredictRequest(&PredictRequest{Model: []byte("abc"), Timestamps: []int64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	badResp, _ := EncodePredictResponse(&PredictResponse{Yhat: []float64{1, 2}, Lower: []float64{1}, Upper: []float64{1}})
	tests := []struct {
		name    string
		decode  func([]byte) error
		in      []byte
		wantErr string
	}{
		{"empty", decPredictReq, nil, "metadata length"},
		{"truncated timestamps", decPredictReq, good[:len(good)-5], "timestamps"},
		{"trailing bytes", decPredictReq, append(append([]byte{}, good...), 0), "unexpected bytes"},
		{"huge count", decPredictReq, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, "timestamps"},
		{"bad json", decPredictReq, []byte{1, 0, 0, 0, '{'}, "metadata"},
		{"bounds mismatch", func(b []byte) error { _, err := DecodePredictResponse(b); return err }, badResp, "bounds"},
		{"short result", func(b []byte) error { _, err := DecodeResult(b); return err }, []byte{0, 0}, "shorter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func decPredictReq(b []byte) error { _, err := DecodePredictRequest(b); return err }

func TestResultStatus(t *testing.T) {
	_, err := DecodeResult(EncodeResult(StatusInvalidArgument, []byte(`parameter "x": bad`)))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != StatusInvalidArgument || ae.Message != `parameter "x": bad` {
		t.Fatalf("err = %v", err)
	}
	p, err := DecodeResult(EncodeResult(StatusOK, []byte("xy")))
	if err != nil || !bytes.Equal(p, []byte("xy")) {
		t.Fatalf("ok result = %q, %v", p, err)
	}
}

func TestCheckVersion(t *testing.T) {
	tests := []struct {
		v       uint32
		wantErr string
	}{
		{PackVersion(1, 0, 0), ""},
		{PackVersion(1, 0, 7), ""},
		{PackVersion(1, 1, 0), "newer"},
		{PackVersion(2, 0, 0), "not supported"},
		{PackVersion(0, 9, 0), "not supported"},
	}
	for _, tc := range tests {
		err := CheckVersion(tc.v)
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("CheckVersion(%s) = %v, want %q", VersionString(tc.v), err, tc.wantErr)
		}
	}
}

func FuzzDecodeTrainRequest(f *testing.F) {
	b, _ := EncodeTrainRequest(&TrainRequest{Timestamps: []int64{1}, Values: []float64{2}, Columns: []Column{{Name: "c", Values: []float64{1}}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := DecodeTrainRequest(in)
		if err != nil {
			return
		}
		out, err := EncodeTrainRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeTrainRequest(out); err != nil {
			t.Fatalf("re-decoding failed: %v", err)
		}
	})
}
