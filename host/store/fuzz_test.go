package store

import (
	"encoding/json"
	"testing"
)

// FuzzManifest decodes arbitrary manifest.json and plugin.json documents
// as the store reads them: a document that decodes and validates encodes
// and decodes again.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"model":{"namespace":"team-a","name":"cpu"},"version":"20261129T170655.123Z-a1b2c3","plugin":{"name":"seasonal-naive","version":"1.0.0","sha256":"` +
		`c44fd6d34080c44fd6d34080c44fd6d34080c44fd6d34080c44fd6d34080c44f"},"data":{"step":"1m0s","points":3},"metrics":{"mase":"+Inf","mae":1.5,"x":"NaN"},` +
		`"gate":{"accepted":true,"reason":"ok"},"created":"2026-11-29T17:06:55Z","model_sha256":"ab","model_size":3}`))
	f.Add([]byte(`{"name":"prophet","version":"1.2.0","sha256":"00","size":10,"abi_version":"1.0.0","description":{"name":"prophet","version":"1.2.0"}}`))
	f.Add([]byte(`{"data":{"step":"1d"},"metrics":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Manifest
		if json.Unmarshal(b, &m) == nil && m.validate() == nil {
			out, err := encodeDocument(m)
			if err != nil {
				t.Fatalf("encode manifest: %v", err)
			}
			var back Manifest
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("manifest does not decode back: %v\n%s", err, out)
			}
			if back.Model != m.Model || back.Version != m.Version || back.Data.Step != m.Data.Step || len(back.Metrics) != len(m.Metrics) {
				t.Fatalf("manifest changed in a round trip:\n%s", out)
			}
		}
		var p PluginMeta
		if json.Unmarshal(b, &p) == nil && p.validate() == nil {
			out, err := encodeDocument(p)
			if err != nil {
				t.Fatalf("encode plugin meta: %v", err)
			}
			var back PluginMeta
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("plugin meta does not decode back: %v\n%s", err, out)
			}
		}
	})
}
