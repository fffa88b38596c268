package runtime

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
)

// The binary tensor data extension of the REST protocol (as KServe and
// Triton document it): the body is a JSON header followed by raw tensor
// bytes, little-endian and row-major, the header's length given by the
// Inference-Header-Content-Length HTTP header. An input whose parameters
// hold binary_data_size takes that many bytes of the tail, in input order;
// an output is returned the same way when the request asks for it, per
// output (parameters.binary_data) or for all (the request parameter
// binary_data_output).
const (
	// HeaderInferenceLength is the HTTP header giving the length of the
	// JSON part of a request or response body that carries binary tensors.
	HeaderInferenceLength = "Inference-Header-Content-Length"
	// ExtensionBinaryData is the extension's name in server metadata.
	ExtensionBinaryData = "binary_tensor_data"

	paramBinarySize   = "binary_data_size"
	paramBinaryData   = "binary_data"
	paramBinaryOutput = "binary_data_output"
)

// elementSize is the size in bytes of one element of each fixed-size OIP
// datatype; BYTES (variable size) is absent.
var elementSize = map[string]int64{
	"BOOL": 1, "UINT8": 1, "INT8": 1,
	"UINT16": 2, "INT16": 2, "FP16": 2, "BF16": 2,
	"UINT32": 4, "INT32": 4, "FP32": 4,
	"UINT64": 8, "INT64": 8, "FP64": 8,
}

// splitBinaryBody splits a request body into its JSON header and binary
// tail by the Inference-Header-Content-Length header value h ("" means the
// whole body is JSON).
func splitBinaryBody(body []byte, h string) (header, tail []byte, err error) {
	if h == "" {
		return body, nil, nil
	}
	n, perr := strconv.ParseInt(h, 10, 64)
	switch {
	case perr != nil:
		return nil, nil, errorf(codeInvalidArgument, "%s %q is not an integer", HeaderInferenceLength, h)
	case n < 0:
		return nil, nil, errorf(codeInvalidArgument, "%s %d is negative", HeaderInferenceLength, n)
	case n > int64(len(body)):
		return nil, nil, errorf(codeInvalidArgument, "%s %d is past the end of the %d-byte body", HeaderInferenceLength, n, len(body))
	}
	return body[:n], body[n:], nil
}

// binarySize returns the input's binary_data_size parameter, ok false when
// it has none.
func binarySize(t restTensor) (size int64, ok bool, err error) {
	raw, ok := t.Parameters[paramBinarySize]
	if !ok {
		return 0, false, nil
	}
	size, perr := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if perr != nil {
		return 0, true, errorf(codeInvalidArgument, "input %s: parameters.%s %s is not an integer", quoteName(t.Name), paramBinarySize, raw)
	}
	if size < 0 {
		return 0, true, errorf(codeInvalidArgument, "input %s: parameters.%s %d is negative", quoteName(t.Name), paramBinarySize, size)
	}
	return size, true, nil
}

// binaryInput takes input t's bytes from tail at offset off, checks them
// against its shape and datatype, and decodes INT64 values into it. It
// returns the offset past the tensor.
func binaryInput(t restTensor, size int64, tail []byte, off int64, it *inputTensor) (int64, error) {
	if len(t.Data) > 0 && !bytes.Equal(bytes.TrimSpace(t.Data), []byte("null")) {
		return 0, errorf(codeInvalidArgument, "input %s: both data and parameters.%s are given", quoteName(t.Name), paramBinarySize)
	}
	if rest := int64(len(tail)) - off; size > rest {
		return 0, errorf(codeInvalidArgument, "input %s: parameters.%s %d overruns the body: %d bytes of binary data are left after the JSON header (%d in all)",
			quoteName(t.Name), paramBinarySize, size, rest, len(tail))
	}
	if es, ok := elementSize[t.Datatype]; ok {
		elems := int64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return 0, errorf(codeInvalidArgument, "input %s: shape %v: negative dimension", quoteName(t.Name), t.Shape)
			}
			// Any product past the body's size is wrong already; stop
			// before it can overflow.
			if d > 0 && elems > (int64(len(tail))+1)/d {
				return 0, errorf(codeInvalidArgument, "input %s: shape %v is larger than the %d bytes of binary data", quoteName(t.Name), t.Shape, len(tail))
			}
			elems *= d
		}
		if elems*es != size {
			return 0, errorf(codeInvalidArgument, "input %s: parameters.%s %d does not match shape %v of %s (%d elements of %d bytes = %d bytes)",
				quoteName(t.Name), paramBinarySize, size, t.Shape, t.Datatype, elems, es, elems*es)
		}
	}
	b := tail[off : off+size]
	if t.Datatype == DatatypeInt64 {
		it.values = make([]int64, 0, len(b)/8)
		for j := 0; j+8 <= len(b); j += 8 {
			it.values = append(it.values, int64(binary.LittleEndian.Uint64(b[j:])))
		}
	}
	return off + size, nil
}

// boolParam reads an optional boolean parameter; where names it in errors.
func boolParam(params map[string]json.RawMessage, name, where string) (v, ok bool, err error) {
	raw, ok := params[name]
	if !ok {
		return false, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, true, errorf(codeInvalidArgument, "%s.%s %s is not a boolean", where, name, raw)
	}
	return v, true, nil
}

// binaryOutputs decides which outputs go back as binary data: those whose
// request asks for it (parameters.binary_data), and by default the rest
// when the request parameter binary_data_output is true.
func binaryOutputs(in restInferRequest) (all bool, per map[string]bool, err error) {
	all, _, err = boolParam(in.Parameters, paramBinaryOutput, "parameters")
	if err != nil {
		return false, nil, err
	}
	per = map[string]bool{}
	for _, o := range in.Outputs {
		v, ok, err := boolParam(o.Parameters, paramBinaryData, fmt.Sprintf("output %s: parameters", quoteName(o.Name)))
		if err != nil {
			return false, nil, err
		}
		if ok {
			per[o.Name] = v
		}
	}
	return all, per, nil
}

// encodeRESTResponse encodes an inference response: JSON alone, or, when
// an output is to be binary, the JSON header followed by those outputs'
// bytes in output order; headerLen is then the header's length (else -1).
func encodeRESTResponse(resp inferResponse, binAll bool, binPer map[string]bool) (body []byte, headerLen int, err error) {
	out := restInferResponse{ModelName: resp.model, ModelVersion: resp.version, ID: resp.id, Parameters: resp.parameters()}
	var tail []byte
	anyBinary := false
	for _, o := range resp.outputs {
		t := restOutput{Name: o.name, Datatype: o.datatype, Shape: []int64{int64(o.len())}}
		bin, ok := binPer[o.name]
		if !ok {
			bin = binAll
		}
		switch {
		case bin:
			anyBinary = true
			b := encodeRaw(o)
			t.Parameters = map[string]any{paramBinarySize: len(b)}
			tail = append(tail, b...)
		case o.datatype == DatatypeInt64:
			t.Data = o.ints
		default:
			t.Data = jsonFloats(o.floats)
		}
		out.Outputs = append(out.Outputs, t)
	}
	js, err := json.Marshal(out)
	if err != nil {
		return nil, 0, fmt.Errorf("encode response: %w", err)
	}
	if !anyBinary {
		return append(js, '\n'), -1, nil
	}
	return append(js, tail...), len(js), nil
}
