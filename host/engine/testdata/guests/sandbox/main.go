// Command sandbox probes what the host grants and reports it as train
// info: files, directories, environment, arguments, network, clock and
// random numbers.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "sandbox", Version: "1.0.0"} }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	info := map[string]any{}
	f, err := os.Open("/etc/passwd")
	if err == nil {
		f.Close()
	}
	info["open_error"] = errText(err)
	_, err = os.ReadDir("/")
	info["readdir_error"] = errText(err)
	err = os.WriteFile("/tmp/ppa-sandbox-probe", []byte("x"), 0o644)
	info["write_error"] = errText(err)
	info["home"] = os.Getenv("HOME")
	info["environ"] = len(os.Environ())
	info["args"] = len(os.Args)
	conn, err := net.Dial("tcp", "127.0.0.1:80")
	if err == nil {
		conn.Close()
	}
	info["dial_error"] = errText(err)
	info["now_ms"] = time.Now().UnixMilli()
	b := make([]byte, 8)
	_, err = rand.Read(b)
	info["rand_error"] = errText(err)
	info["rand"] = hex.EncodeToString(b)
	return &abi.TrainResponse{Model: []byte{1}, Info: info}, nil
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, len(r.Timestamps))}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
