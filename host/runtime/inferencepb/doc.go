// Package inferencepb is the Go code for the Open Inference Protocol v2 gRPC
// API (protobuf package "inference", service GRPCInferenceService),
// generated from docs/predict-api/v2/grpc_predict_v2.proto in the KServe
// module pinned by go.mod. Do not edit the .pb.go files: regenerate them with
// `make generate` (which runs hack/gen-proto.sh).
package inferencepb

//go:generate ../../../hack/gen-proto.sh
