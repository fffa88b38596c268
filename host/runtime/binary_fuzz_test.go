package runtime

import (
	"bytes"
	"encoding/binary"
	"net/http/httptest"
	"strconv"
	"testing"
)

// FuzzRESTBinaryRequest decodes arbitrary bodies of the binary tensor data
// extension with an arbitrary Inference-Header-Content-Length: whatever
// the framing, decoding returns a bounded client error or a request that
// meets the invariants of FuzzRESTInferRequest, and never panics or reads
// past the body.
func FuzzRESTBinaryRequest(f *testing.F) {
	le := func(vs ...int64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
		return b
	}
	for _, seed := range []struct {
		json string
		tail []byte
	}{
		{`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":8}}],"parameters":{"binary_data_output":true}}`, le(900)},
		{`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":8}},{"name":"start","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":8}}],"outputs":[{"name":"yhat","parameters":{"binary_data":true}}]}`, le(60, 1800000000)},
		{`{"inputs":[{"name":"horizon","shape":[2],"datatype":"INT64","parameters":{"binary_data_size":16}}]}`, le(60, 120)},
		{`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","parameters":{"binary_data_size":-8}}]}`, le(60)},
		{`{"inputs":[{"name":"horizon","shape":[4611686018427387904,4],"datatype":"INT64","parameters":{"binary_data_size":8}}]}`, le(60)},
	} {
		f.Add(append([]byte(seed.json), seed.tail...), strconv.Itoa(len(seed.json)))
	}
	f.Add([]byte(`{"inputs":[]}`), "")
	s, m := fuzzServer()
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		r := httptest.NewRequest("POST", "/v2/models/cpu/infer", bytes.NewReader(body))
		r.SetPathValue("name", "cpu")
		if header != "" {
			r.Header.Set(HeaderInferenceLength, header)
		}
		req, err := s.decodeREST(httptest.NewRecorder(), r)
		checkDecoded(t, s, m, req.inferRequest, err)
	})
}
