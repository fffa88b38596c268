package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
)

// ModelRef names a model: a Kubernetes-style namespace and a name.
type ModelRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String renders the reference as "namespace/name".
func (r ModelRef) String() string { return r.Namespace + "/" + r.Name }

// Validate checks that both parts are usable as path components.
func (r ModelRef) Validate() error {
	if err := checkComponent("namespace", r.Namespace); err != nil {
		return fmt.Errorf("model %q: %w", r.String(), err)
	}
	if err := checkComponent("name", r.Name); err != nil {
		return fmt.Errorf("model %q: %w", r.String(), err)
	}
	return nil
}

// ParseModelRef parses "namespace/name".
func ParseModelRef(s string) (ModelRef, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok {
		return ModelRef{}, fmt.Errorf("model %q: want namespace/name", s)
	}
	ref := ModelRef{Namespace: ns, Name: name}
	if err := ref.Validate(); err != nil {
		return ModelRef{}, err
	}
	return ref, nil
}

// PluginRef pins the plugin version a model was trained with.
type PluginRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// SHA256 is the lower-case hex digest of the plugin's wasm bytes.
	SHA256 string `json:"sha256"`
	// Run says how the trainer ran the plugin (engine.RunMode):
	// "trusted-inprocess" for a built-in plugin of the trainer's build,
	// "sandboxed-process" for any other (a worker process with OS limits),
	// "sandboxed-inprocess" where worker processes are unavailable. Empty
	// in manifests written before it was recorded.
	Run string `json:"run,omitempty"`
}

// DataWindow records the history a model was trained on.
type DataWindow struct {
	// Source is where the history came from, e.g. "prometheus" or "csv".
	Source string `json:"source"`
	// Query is the PromQL query, file name or other source-specific locator.
	Query string `json:"query,omitempty"`
	// Start and End bound the window (inclusive).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Step is the sampling interval.
	Step Duration `json:"step"`
	// Points is the number of samples in the window, Missing how many of
	// them had no value.
	Points  int `json:"points"`
	Missing int `json:"missing"`
}

// Gate is the quality gate's verdict on a trained model.
type Gate struct {
	// Accepted is true when the model may serve.
	Accepted bool `json:"accepted"`
	// Reason explains a rejection (or notes an acceptance) for people.
	Reason string `json:"reason,omitempty"`
	// Limits are the thresholds the metrics were held to, e.g. {"mase": 1}.
	Limits Metrics `json:"limits,omitempty"`
}

// TrainerInfo identifies the program that trained a model.
type TrainerInfo struct {
	Version string `json:"version"`
}

// Manifest describes one model version. It is stored as manifest.json beside
// model.bin and is the version's commit marker.
type Manifest struct {
	Model   ModelRef `json:"model"`
	Version string   `json:"version"`
	// Plugin is the forecaster that trained the model and must serve it.
	Plugin PluginRef  `json:"plugin"`
	Data   DataWindow `json:"data"`
	// Parameters are the plugin parameters the model was trained with.
	Parameters abi.Params `json:"parameters,omitempty"`
	// Seed is the seed passed to the plugin's train.
	Seed uint64 `json:"seed"`
	// Metrics are backtest metrics, e.g. {"mase": 0.8, "mape": 0.12}.
	Metrics Metrics `json:"metrics,omitempty"`
	Gate    Gate    `json:"gate"`
	// Policy is the scaling policy the trainer learned from the same
	// history (host/policy.Policy as JSON): how the scaler should read this
	// model's forecasts, or that it should stay reactive. Consumers decode
	// and validate it themselves (policy.Parse), so that a bad policy costs
	// the policy, not the model.
	Policy  json.RawMessage `json:"policy,omitempty"`
	Trainer TrainerInfo     `json:"trainer"`
	// Created is when the model was stored; CreatedBy who stored it.
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by,omitempty"`
	// ModelSHA256 (lower-case hex) and ModelSize describe model.bin; the
	// store sets them.
	ModelSHA256 string `json:"model_sha256"`
	ModelSize   int64  `json:"model_size"`
}

// Rejected reports whether the quality gate refused the model.
func (m *Manifest) Rejected() bool { return !m.Gate.Accepted }

// validate checks what the store relies on before writing.
func (m *Manifest) validate() error {
	if err := m.Model.Validate(); err != nil {
		return err
	}
	if err := checkComponent("version", m.Version); err != nil {
		return fmt.Errorf("model %s: %w", m.Model, err)
	}
	if m.Plugin.Name == "" || m.Plugin.Version == "" {
		return fmt.Errorf("model %s: manifest: plugin name and version are required", m.Model)
	}
	if m.Plugin.SHA256 != "" && !isHexDigest(m.Plugin.SHA256) {
		return fmt.Errorf("model %s: manifest: plugin.sha256 %q is not a lower-case hex sha256", m.Model, m.Plugin.SHA256)
	}
	return nil
}

// PluginMeta describes one plugin version. It is stored as plugin.json beside
// plugin.wasm and is the version's commit marker.
type PluginMeta struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// SHA256 (lower-case hex) and Size describe plugin.wasm; the store
	// sets them.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// ABIVersion is the plugin's ABI version as "major.minor.patch" (see
	// abi.VersionString).
	ABIVersion string `json:"abi_version"`
	// Description is what the plugin's ppa_describe returned.
	Description abi.Description `json:"description"`
	// Created is when the plugin was stored; Uploader who stored it.
	Created  time.Time `json:"created"`
	Uploader string    `json:"uploader,omitempty"`
}

// validate checks what the store relies on before writing.
func (p *PluginMeta) validate() error {
	if err := checkComponent("plugin name", p.Name); err != nil {
		return err
	}
	if err := checkComponent("plugin version", p.Version); err != nil {
		return fmt.Errorf("plugin %s: %w", p.Name, err)
	}
	if p.Version == LatestVersion {
		return fmt.Errorf("plugin %s: version %q is reserved", p.Name, LatestVersion)
	}
	if p.ABIVersion == "" {
		return fmt.Errorf("plugin %s %s: abi_version is required", p.Name, p.Version)
	}
	return nil
}

// Duration is a time.Duration that travels in JSON as a Go duration string
// ("1m0s"); "1d" style day suffixes are accepted on input.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"1m\": %w", err)
	}
	v, err := abi.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Metrics maps metric names to values. Unlike a plain map it survives JSON
// with non-finite values (a MASE against a perfect naive forecast is +Inf):
// NaN, +Inf and -Inf travel as the strings "NaN", "+Inf" and "-Inf".
type Metrics map[string]float64

// MarshalJSON implements json.Marshaler.
func (m Metrics) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch {
		case math.IsNaN(v):
			out[k] = "NaN"
		case math.IsInf(v, 1):
			out[k] = "+Inf"
		case math.IsInf(v, -1):
			out[k] = "-Inf"
		default:
			out[k] = v
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON implements json.Unmarshaler.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*m = nil
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	out := make(Metrics, len(raw))
	for k, r := range raw {
		var f float64
		if err := json.Unmarshal(r, &f); err == nil {
			out[k] = f
			continue
		}
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			return fmt.Errorf("metrics: %q: want a number, got %s", k, r)
		}
		switch s {
		case "NaN":
			out[k] = math.NaN()
		case "+Inf", "Inf":
			out[k] = math.Inf(1)
		case "-Inf":
			out[k] = math.Inf(-1)
		default:
			return fmt.Errorf("metrics: %q: want a number, got %q", k, s)
		}
	}
	*m = out
	return nil
}

// checkComponent validates a name used as one path component of an object
// key: 1..128 characters of [A-Za-z0-9._-], starting with a letter or digit
// (so never "." or "..", never a hidden temporary file's name).
func checkComponent(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if len(s) > 128 {
		return fmt.Errorf("%s %q: longer than 128 characters", what, s)
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%s %q: must start with a letter or digit", what, s)
		}
		if !alnum && r != '.' && r != '_' && r != '-' {
			return fmt.Errorf("%s %q: only letters, digits, '.', '_' and '-' are allowed", what, s)
		}
	}
	return nil
}

// isHexDigest reports whether s is a lower-case hex sha256.
func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
