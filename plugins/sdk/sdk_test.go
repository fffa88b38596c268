package sdk_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

// fake is a plugin whose behaviour each test sets.
type fake struct {
	train   func(*abi.TrainRequest) (*abi.TrainResponse, error)
	predict func(*abi.PredictRequest) (*abi.PredictResponse, error)
}

func (fake) Describe() abi.Description {
	return abi.Description{Name: "fake", Version: "0.1.0", Parameters: []abi.Parameter{{Name: "k", Type: abi.ParamInt, Default: 3}}}
}

func (f fake) Train(r *abi.TrainRequest) (*abi.TrainResponse, error)       { return f.train(r) }
func (f fake) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) { return f.predict(r) }

func mustEncode(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestCallDescribe(t *testing.T) {
	payload, err := abi.DecodeResult(sdk.Call(fake{}, abi.ExportDescribe, nil))
	if err != nil {
		t.Fatal(err)
	}
	var d abi.Description
	if err := json.Unmarshal(payload, &d); err != nil {
		t.Fatal(err)
	}
	if d.Name != "fake" || d.Parameters[0].Default != 3.0 {
		t.Errorf("description %+v", d)
	}
}

func TestCallTrainAndPredict(t *testing.T) {
	p := fake{
		train: func(r *abi.TrainRequest) (*abi.TrainResponse, error) {
			return &abi.TrainResponse{Model: []byte(fmt.Sprint(len(r.Values), r.Seed)), Info: map[string]any{"k": r.Params["k"]}}, nil
		},
		predict: func(r *abi.PredictRequest) (*abi.PredictResponse, error) {
			y := make([]float64, len(r.Timestamps))
			for i, ts := range r.Timestamps {
				y[i] = float64(ts) + float64(len(r.Model))
			}
			return &abi.PredictResponse{Yhat: y}, nil
		},
	}
	in := mustEncode(abi.EncodeTrainRequest(&abi.TrainRequest{Params: abi.Params{"k": 4.0}, Seed: 9, Timestamps: []int64{1, 2}, Values: []float64{5, 6}}))
	payload, err := abi.DecodeResult(sdk.Call(p, abi.ExportTrain, in))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := abi.DecodeTrainResponse(payload)
	if err != nil {
		t.Fatal(err)
	}
	if string(tr.Model) != "2 9" || tr.Info["k"] != 4.0 {
		t.Errorf("train response %+v", tr)
	}
	in = mustEncode(abi.EncodePredictRequest(&abi.PredictRequest{Model: tr.Model, Timestamps: []int64{10, 20}}))
	payload, err = abi.DecodeResult(sdk.Call(p, abi.ExportPredict, in))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := abi.DecodePredictResponse(payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Yhat) != 2 || pr.Yhat[0] != 13 || pr.Yhat[1] != 23 {
		t.Errorf("predict response %+v", pr)
	}
}

func TestCallErrors(t *testing.T) {
	validTrain := mustEncode(abi.EncodeTrainRequest(&abi.TrainRequest{Timestamps: []int64{1}, Values: []float64{1}}))
	validPredict := mustEncode(abi.EncodePredictRequest(&abi.PredictRequest{Timestamps: []int64{1}}))
	failTrain := func(err error) fake {
		return fake{train: func(*abi.TrainRequest) (*abi.TrainResponse, error) { return nil, err }}
	}
	tests := []struct {
		name    string
		p       sdk.Plugin
		export  string
		in      []byte
		status  abi.Status
		message string
	}{
		{"abi error keeps its status", failTrain(abi.Errorf(abi.StatusInsufficientData, "need 10 points, got 1")), abi.ExportTrain, validTrain,
			abi.StatusInsufficientData, "need 10 points, got 1"},
		{"wrapped abi error keeps status and context", failTrain(fmt.Errorf("season: %w", abi.Errorf(abi.StatusInvalidArgument, "too long"))), abi.ExportTrain, validTrain,
			abi.StatusInvalidArgument, "season: too long"},
		{"plain error is internal", failTrain(errors.New("matrix is singular")), abi.ExportTrain, validTrain,
			abi.StatusInternal, "matrix is singular"},
		{"panic is internal", fake{train: func(*abi.TrainRequest) (*abi.TrainResponse, error) { panic("index out of range") }}, abi.ExportTrain, validTrain,
			abi.StatusInternal, "ppa_train: panic: index out of range"},
		{"panic in predict", fake{predict: func(*abi.PredictRequest) (*abi.PredictResponse, error) { panic(errors.New("boom")) }}, abi.ExportPredict, validPredict,
			abi.StatusInternal, "ppa_predict: panic: boom"},
		{"nil response", failTrain(nil), abi.ExportTrain, validTrain,
			abi.StatusInternal, "train returned neither a response nor an error"},
		{"undecodable train request", fake{}, abi.ExportTrain, []byte{1, 2},
			abi.StatusInvalidArgument, "train request: metadata length"},
		{"undecodable predict request", fake{}, abi.ExportPredict, validTrain,
			abi.StatusInvalidArgument, "predict request"},
		{"unencodable info", fake{train: func(*abi.TrainRequest) (*abi.TrainResponse, error) {
			return &abi.TrainResponse{Info: map[string]any{"bad": make(chan int)}}, nil
		}}, abi.ExportTrain, validTrain, abi.StatusInternal, "encode train response"},
		{"unknown export", fake{}, "ppa_fit", nil, abi.StatusUnsupported, `unknown export "ppa_fit"`},
		{"no plugin", nil, abi.ExportDescribe, nil, abi.StatusInternal, "no plugin registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := abi.DecodeResult(sdk.Call(tt.p, tt.export, tt.in))
			var ae *abi.Error
			if !errors.As(err, &ae) {
				t.Fatalf("result error %v is not an *abi.Error", err)
			}
			if ae.Status != tt.status || !strings.Contains(ae.Message, tt.message) {
				t.Errorf("got %s %q, want %s containing %q", ae.Status, ae.Message, tt.status, tt.message)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	if sdk.Registered() != nil {
		t.Fatal("a plugin is registered before Register")
	}
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("Register(nil)", func() { sdk.Register(nil) })
	sdk.Register(fake{})
	if _, ok := sdk.Registered().(fake); !ok {
		t.Errorf("Registered() = %T", sdk.Registered())
	}
	mustPanic("a second Register", func() { sdk.Register(fake{}) })
}
