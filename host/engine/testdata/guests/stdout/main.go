// Command stdout floods stdout: train writes 1 MiB and succeeds, predict
// writes a little more and exits with code 7.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "stdout", Version: "1.0.0"} }

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	line := strings.Repeat("x", 1023)
	for range 1024 {
		fmt.Println(line)
	}
	fmt.Fprintln(os.Stderr, "train: last words")
	return &abi.TrainResponse{Model: []byte{1}}, nil
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	for i := range 100 {
		fmt.Println("predict line", i)
	}
	fmt.Fprintln(os.Stderr, "predict: fatal, exiting")
	os.Exit(7)
	return nil, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
