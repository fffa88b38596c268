package abi

import (
	"encoding/json"
	"math"
	"testing"
)

// decoders are the ABI's message decoders, by the first byte of a fuzz
// input. Each decoded message must encode again, and that encoding must
// decode: whatever a peer sends either fails cleanly or round-trips.
var decoders = []func(t *testing.T, b []byte){
	func(t *testing.T, b []byte) {
		r, err := DecodeTrainRequest(b)
		if err == nil {
			out, err := EncodeTrainRequest(r)
			if err != nil {
				t.Fatalf("re-encode train request: %v", err)
			}
			if _, err := DecodeTrainRequest(out); err != nil {
				t.Fatalf("re-decode train request: %v", err)
			}
		}
	},
	func(t *testing.T, b []byte) {
		r, err := DecodeTrainResponse(b)
		if err == nil {
			out, err := EncodeTrainResponse(r)
			if err != nil {
				t.Fatalf("re-encode train response: %v", err)
			}
			if _, err := DecodeTrainResponse(out); err != nil {
				t.Fatalf("re-decode train response: %v", err)
			}
		}
	},
	func(t *testing.T, b []byte) {
		r, err := DecodePredictRequest(b)
		if err == nil {
			out, err := EncodePredictRequest(r)
			if err != nil {
				t.Fatalf("re-encode predict request: %v", err)
			}
			if _, err := DecodePredictRequest(out); err != nil {
				t.Fatalf("re-decode predict request: %v", err)
			}
		}
	},
	func(t *testing.T, b []byte) {
		r, err := DecodePredictResponse(b)
		if err == nil {
			out, err := EncodePredictResponse(r)
			if err != nil {
				t.Fatalf("re-encode predict response: %v", err)
			}
			if _, err := DecodePredictResponse(out); err != nil {
				t.Fatalf("re-decode predict response: %v", err)
			}
		}
	},
	func(t *testing.T, b []byte) {
		payload, err := DecodeResult(b)
		if err == nil && len(payload) != len(b)-4 {
			t.Fatalf("payload of %d bytes from a result of %d", len(payload), len(b))
		}
		if err != nil && len(err.Error()) > maxResultMessage+200 {
			t.Fatalf("error of %d bytes: want it bounded", len(err.Error()))
		}
	},
	func(t *testing.T, b []byte) {
		// A plugin's self-description, and parameters checked against it.
		var d Description
		if json.Unmarshal(b, &d) != nil || d.Validate() != nil {
			return
		}
		ps, err := d.ParseParams(map[string]string{"season": "1d", "level": "0.5", "growth": "linear"})
		if err == nil {
			_ = d.CheckParams(ps)
		}
	},
	func(t *testing.T, b []byte) {
		d, err := ParseDuration(string(b))
		if err == nil && d < 0 && len(b) > 0 && b[0] != '-' {
			t.Fatalf("ParseDuration(%q) = %v: negative without a sign", b, d)
		}
	},
}

// FuzzDecode runs every ABI decoder on arbitrary bytes; the first byte
// picks the decoder. The seed corpus holds a valid message of each kind.
func FuzzDecode(f *testing.F) {
	seed := func(kind byte, b []byte, err error) {
		if err != nil {
			f.Fatal(err)
		}
		f.Add(append([]byte{kind}, b...))
	}
	tr, err := EncodeTrainRequest(&TrainRequest{Params: Params{"season": "1d"}, Seed: 7, Timestamps: []int64{1, 2}, Values: []float64{2, math.NaN()},
		Columns: []Column{{Name: "c", Values: []float64{1, 2}}}})
	seed(0, tr, err)
	ts, err := EncodeTrainResponse(&TrainResponse{Model: []byte("model"), Info: map[string]any{"k": 1.0}})
	seed(1, ts, err)
	pr, err := EncodePredictRequest(&PredictRequest{Model: []byte{1, 2}, Seed: 3, Timestamps: []int64{5}})
	seed(2, pr, err)
	ps, err := EncodePredictResponse(&PredictResponse{Yhat: []float64{1}, Lower: []float64{0}, Upper: []float64{2}})
	seed(3, ps, err)
	seed(4, EncodeResult(StatusInvalidArgument, []byte("bad")), nil)
	seed(4, EncodeResult(StatusOK, pr), nil)
	seed(5, []byte(`{"name":"p","version":"1.0.0","capabilities":{"min_points":2},"parameters":[{"name":"season","type":"duration","default":"1d"}]}`), nil)
	seed(6, []byte("1d12h"), nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		decoders[int(in[0])%len(decoders)](t, in[1:])
	})
}
