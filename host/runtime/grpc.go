package runtime

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
)

const protocolGRPC = "grpc"

// grpcService implements inference.GRPCInferenceService.
type grpcService struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

// grpcCode maps an error code to the gRPC status code.
func grpcCode(c errCode) codes.Code {
	switch c {
	case codeInvalidArgument:
		return codes.InvalidArgument
	case codeNotFound:
		return codes.NotFound
	case codeUnavailable:
		return codes.Unavailable
	case codeTooLarge:
		return codes.ResourceExhausted
	case codeDeadlineExceeded:
		return codes.DeadlineExceeded
	case codeCanceled:
		return codes.Canceled
	}
	return codes.Internal
}

func grpcError(err error) error {
	return status.Error(grpcCode(codeOf(err)), clipMessage(err.Error()))
}

// ServerLive implements GRPCInferenceServiceServer.
func (g *grpcService) ServerLive(context.Context, *inferencepb.ServerLiveRequest) (*inferencepb.ServerLiveResponse, error) {
	return &inferencepb.ServerLiveResponse{Live: true}, nil
}

// ServerReady implements GRPCInferenceServiceServer.
func (g *grpcService) ServerReady(context.Context, *inferencepb.ServerReadyRequest) (*inferencepb.ServerReadyResponse, error) {
	return &inferencepb.ServerReadyResponse{Ready: g.s.Ready()}, nil
}

// ServerMetadata implements GRPCInferenceServiceServer.
func (g *grpcService) ServerMetadata(context.Context, *inferencepb.ServerMetadataRequest) (*inferencepb.ServerMetadataResponse, error) {
	md := g.s.serverMetadata()
	return &inferencepb.ServerMetadataResponse{Name: md.Name, Version: md.Version, Extensions: md.Extensions}, nil
}

// ModelReady implements GRPCInferenceServiceServer. A known model that is
// not loaded yet is not ready (no error); an unknown one is NotFound.
func (g *grpcService) ModelReady(_ context.Context, req *inferencepb.ModelReadyRequest) (*inferencepb.ModelReadyResponse, error) {
	_, err := g.s.lookup(req.GetName(), req.GetVersion())
	if err != nil && codeOf(err) != codeUnavailable {
		return nil, grpcError(err)
	}
	return &inferencepb.ModelReadyResponse{Ready: err == nil}, nil
}

// ModelMetadata implements GRPCInferenceServiceServer.
func (g *grpcService) ModelMetadata(_ context.Context, req *inferencepb.ModelMetadataRequest) (*inferencepb.ModelMetadataResponse, error) {
	m, err := g.s.lookup(req.GetName(), req.GetVersion())
	if err != nil {
		return nil, grpcError(err)
	}
	md := metadataOf(m)
	out := &inferencepb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform}
	for _, t := range md.Inputs {
		out.Inputs = append(out.Inputs, &inferencepb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	for _, t := range md.Outputs {
		out.Outputs = append(out.Outputs, &inferencepb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	return out, nil
}

// ModelInfer implements GRPCInferenceServiceServer. Inputs may come in
// contents (int64_contents) or raw_input_contents (little-endian); the
// outputs use the same form as the inputs.
func (g *grpcService) ModelInfer(ctx context.Context, req *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	begin := g.s.opts.Tick()
	in, raw, err := decodeGRPC(req)
	if err != nil {
		label := unknownModelLabel
		if m, _ := g.s.set.Get(req.GetModelName()); m != nil {
			label = m.Name
		}
		g.s.metrics.request(label, protocolGRPC, codeOf(err), g.s.opts.Tick().Sub(begin))
		return nil, grpcError(err)
	}
	resp, err := g.s.infer(ctx, protocolGRPC, in)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &inferencepb.ModelInferResponse{ModelName: resp.model, ModelVersion: resp.version, Id: resp.id}
	switch {
	case resp.policy != nil:
		out.Parameters = map[string]*inferencepb.InferParameter{ParamPolicy: {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: string(resp.policy)}}}
	case resp.policyErr != "":
		out.Parameters = map[string]*inferencepb.InferParameter{ParamPolicyError: {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: resp.policyErr}}}
	}
	for _, o := range resp.outputs {
		t := &inferencepb.ModelInferResponse_InferOutputTensor{Name: o.name, Datatype: o.datatype, Shape: []int64{int64(o.len())}}
		switch {
		case raw:
			out.RawOutputContents = append(out.RawOutputContents, encodeRaw(o))
		case o.datatype == DatatypeInt64:
			t.Contents = &inferencepb.InferTensorContents{Int64Contents: o.ints}
		default:
			t.Contents = &inferencepb.InferTensorContents{Fp64Contents: o.floats}
		}
		out.Outputs = append(out.Outputs, t)
	}
	return out, nil
}

// decodeGRPC turns a gRPC request into the neutral form; raw reports that
// the inputs came as raw_input_contents.
func decodeGRPC(req *inferencepb.ModelInferRequest) (inferRequest, bool, error) {
	out := inferRequest{model: req.GetModelName(), version: req.GetModelVersion(), id: req.GetId()}
	if p, ok := req.GetParameters()[ParamNamespace]; ok {
		ns, isString := p.GetParameterChoice().(*inferencepb.InferParameter_StringParam)
		if !isString {
			return out, false, errorf(codeInvalidArgument, "parameter %q: want a string_param", ParamNamespace)
		}
		out.namespace = ns.StringParam
	}
	raw := len(req.GetRawInputContents()) > 0
	if raw && len(req.GetRawInputContents()) != len(req.GetInputs()) {
		return out, false, errorf(codeInvalidArgument, "raw_input_contents has %d entries for %d inputs", len(req.GetRawInputContents()), len(req.GetInputs()))
	}
	for i, t := range req.GetInputs() {
		if t.GetName() == "" {
			return out, false, errorf(codeInvalidArgument, "inputs[%d]: name is empty", i)
		}
		it := inputTensor{name: t.GetName(), datatype: t.GetDatatype(), shape: t.GetShape()}
		if raw {
			if t.GetContents() != nil {
				return out, false, errorf(codeInvalidArgument, "input %s: contents and raw_input_contents are both set", quoteName(t.GetName()))
			}
			if it.datatype == DatatypeInt64 {
				b := req.GetRawInputContents()[i]
				if len(b)%8 != 0 {
					return out, false, errorf(codeInvalidArgument, "input %s: raw contents of %d bytes: want a multiple of 8 for INT64", quoteName(t.GetName()), len(b))
				}
				for j := 0; j < len(b); j += 8 {
					it.values = append(it.values, int64(binary.LittleEndian.Uint64(b[j:])))
				}
			}
		} else if c := t.GetContents(); c != nil {
			if it.datatype == DatatypeInt64 {
				if n := otherContents(c); n > 0 {
					return out, false, errorf(codeInvalidArgument, "input %s: datatype INT64 wants int64_contents, got %d values in other fields", quoteName(t.GetName()), n)
				}
				it.values = c.GetInt64Contents()
			}
		}
		out.inputs = append(out.inputs, it)
	}
	for _, o := range req.GetOutputs() {
		out.outputs = append(out.outputs, o.GetName())
	}
	return out, raw, nil
}

// otherContents counts the values in every contents field but int64.
func otherContents(c *inferencepb.InferTensorContents) int {
	return len(c.GetBoolContents()) + len(c.GetIntContents()) + len(c.GetUintContents()) + len(c.GetUint64Contents()) +
		len(c.GetFp32Contents()) + len(c.GetFp64Contents()) + len(c.GetBytesContents())
}

// encodeRaw encodes an output tensor little-endian, as raw_output_contents.
func encodeRaw(o outputTensor) []byte {
	b := make([]byte, 0, 8*o.len())
	if o.datatype == DatatypeInt64 {
		for _, v := range o.ints {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	for _, v := range o.floats {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// timeoutInterceptor bounds every call by the request timeout.
func (s *Server) timeoutInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	return handler(ctx, req)
}

// recoverInterceptor turns a panic in a handler into Internal instead of
// a crash of the process (net/http does the same for REST).
func (s *Server) recoverInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("grpc handler panicked", "method", info.FullMethod, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error in %s", info.FullMethod)
		}
	}()
	return handler(ctx, req)
}
