package abi

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Description is the JSON document a plugin returns from ppa_describe.
type Description struct {
	// Name identifies the algorithm, e.g. "prophet". Lower case, [a-z0-9-].
	Name string `json:"name"`
	// Version is the plugin's own semantic version, e.g. "1.2.0".
	Version string `json:"version"`
	// Description is one or two sentences for people.
	Description string `json:"description,omitempty"`
	// Parameters lists every parameter train accepts, with its default.
	Parameters []Parameter `json:"parameters,omitempty"`
	// Capabilities says what the plugin can do.
	Capabilities Capabilities `json:"capabilities"`
}

// ParamType is the type of a plugin parameter's value.
type ParamType string

// Parameter types. Values travel as JSON: int and float as numbers, bool as
// true/false, string and duration as strings (durations in Go syntax plus a
// "d" suffix for days, e.g. "1d12h"), json as any JSON value.
const (
	ParamInt      ParamType = "int"
	ParamFloat    ParamType = "float"
	ParamBool     ParamType = "bool"
	ParamString   ParamType = "string"
	ParamDuration ParamType = "duration"
	ParamJSON     ParamType = "json"
)

// Parameter describes one parameter of a plugin.
type Parameter struct {
	Name        string    `json:"name"`
	Type        ParamType `json:"type"`
	Default     any       `json:"default,omitempty"`
	Description string    `json:"description,omitempty"`
	// Enum, when set, lists the allowed values of a string parameter.
	Enum []string `json:"enum,omitempty"`
}

// Capabilities advertises what a plugin can do.
type Capabilities struct {
	// Intervals is true when predict returns lower and upper bounds.
	Intervals bool `json:"intervals"`
	// MinPoints is the least number of non-missing points train accepts.
	MinPoints int `json:"min_points"`
	// Columns lists the extra input columns the plugin understands (for
	// example "cap" and "floor"), beyond timestamps and values.
	Columns []string `json:"columns,omitempty"`
}

// Validate checks the fields a host relies on.
func (d *Description) Validate() error {
	if d.Name == "" {
		return fmt.Errorf("description: name is empty")
	}
	for _, r := range d.Name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("description: name %q: only a-z, 0-9, '-' and '_' are allowed", d.Name)
		}
	}
	if d.Version == "" {
		return fmt.Errorf("description: version is empty")
	}
	if d.Capabilities.MinPoints < 0 {
		return fmt.Errorf("description: capabilities.min_points is negative")
	}
	seen := map[string]bool{}
	for i, p := range d.Parameters {
		if p.Name == "" {
			return fmt.Errorf("description: parameters[%d]: name is empty", i)
		}
		if seen[p.Name] {
			return fmt.Errorf("description: parameters[%d]: %q listed twice", i, p.Name)
		}
		seen[p.Name] = true
		switch p.Type {
		case ParamInt, ParamFloat, ParamBool, ParamString, ParamDuration, ParamJSON:
		default:
			return fmt.Errorf("description: parameter %q: unknown type %q", p.Name, p.Type)
		}
	}
	return nil
}

// Parameter returns the parameter with the given name.
func (d *Description) Parameter(name string) (Parameter, bool) {
	for _, p := range d.Parameters {
		if p.Name == name {
			return p, true
		}
	}
	return Parameter{}, false
}

// Params holds parameter values as decoded from JSON: float64, bool, string,
// []any, map[string]any or nil.
type Params map[string]any

// ParseParams turns "key=value" strings as people type them (CLI flags,
// trigger metadata) into typed Params using the description. An unknown
// name or a value of the wrong type is an error naming the parameter.
func (d *Description) ParseParams(kv map[string]string) (Params, error) {
	out := Params{}
	names := make([]string, 0, len(kv))
	for k := range kv {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := kv[name]
		p, ok := d.Parameter(name)
		if !ok {
			return nil, fmt.Errorf("parameter %q: unknown to plugin %s %s (known: %s)", name, d.Name, d.Version, d.paramNames())
		}
		v, err := parseValue(p, raw)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

// CheckParams verifies typed Params (for example from JSON) against the
// description: every name known, every value of the declared type.
func (d *Description) CheckParams(ps Params) error {
	names := make([]string, 0, len(ps))
	for k := range ps {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		p, ok := d.Parameter(name)
		if !ok {
			return fmt.Errorf("parameter %q: unknown to plugin %s %s (known: %s)", name, d.Name, d.Version, d.paramNames())
		}
		if err := checkValue(p, ps[name]); err != nil {
			return fmt.Errorf("parameter %q: %w", name, err)
		}
	}
	return nil
}

func (d *Description) paramNames() string {
	names := make([]string, len(d.Parameters))
	for i, p := range d.Parameters {
		names[i] = p.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func parseValue(p Parameter, raw string) (any, error) {
	switch p.Type {
	case ParamInt:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", raw)
		}
		return float64(n), nil
	case ParamFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", raw)
		}
		return f, nil
	case ParamBool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("%q is not a boolean (true or false)", raw)
		}
		return b, nil
	case ParamDuration:
		if _, err := ParseDuration(raw); err != nil {
			return nil, err
		}
		return raw, nil
	case ParamString:
		if err := checkValue(p, raw); err != nil {
			return nil, err
		}
		return raw, nil
	case ParamJSON:
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			// A bare word is taken as a JSON string, so that
			// yearly_seasonality=auto works without quotes.
			return raw, nil
		}
		return v, nil
	}
	return nil, fmt.Errorf("unknown type %q", p.Type)
}

func checkValue(p Parameter, v any) error {
	switch p.Type {
	case ParamInt:
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			return fmt.Errorf("want an integer, got %v", v)
		}
	case ParamFloat:
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("want a number, got %v", v)
		}
	case ParamBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want true or false, got %v", v)
		}
	case ParamDuration:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a duration string, got %v", v)
		}
		if _, err := ParseDuration(s); err != nil {
			return err
		}
	case ParamString:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %v", v)
		}
		if len(p.Enum) > 0 {
			for _, e := range p.Enum {
				if s == e {
					return nil
				}
			}
			return fmt.Errorf("%q is not one of %s", s, strings.Join(p.Enum, ", "))
		}
	}
	return nil
}

// ParseDuration parses a Go duration with an extra "d" unit for days
// ("7d", "1d12h", "90s"). A bare number is rejected: units are required.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := in
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		days, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil || !(days >= 0) || math.IsInf(days, 0) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		if days*float64(24*time.Hour) >= math.MaxInt64 {
			return 0, fmt.Errorf("duration %q is too long: the limit is about %dd", s, math.MaxInt64/int64(24*time.Hour))
		}
		total = time.Duration(days * float64(24*time.Hour))
		rest = rest[i+1:]
		if rest == "" {
			return total, nil
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90s, 5m, 1h, 7d; at most about 106751d)", s)
	}
	if d > 0 && d > math.MaxInt64-total {
		return 0, fmt.Errorf("duration %q is too long: the limit is about %dd", s, math.MaxInt64/int64(24*time.Hour))
	}
	return total + d, nil
}

// Int reads an integer parameter, or def when it is absent.
func (p Params) Int(name string, def int) (int, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) {
		return 0, Errorf(StatusInvalidArgument, "parameter %q: want an integer, got %v", name, v)
	}
	return int(f), nil
}

// Float reads a number parameter, or def when it is absent.
func (p Params) Float(name string, def float64) (float64, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok {
		return 0, Errorf(StatusInvalidArgument, "parameter %q: want a number, got %v", name, v)
	}
	return f, nil
}

// Bool reads a boolean parameter, or def when it is absent.
func (p Params) Bool(name string, def bool) (bool, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, Errorf(StatusInvalidArgument, "parameter %q: want true or false, got %v", name, v)
	}
	return b, nil
}

// String reads a string parameter, or def when it is absent.
func (p Params) String(name string, def string) (string, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", Errorf(StatusInvalidArgument, "parameter %q: want a string, got %v", name, v)
	}
	return s, nil
}

// Duration reads a duration parameter, or def when it is absent.
func (p Params) Duration(name string, def time.Duration) (time.Duration, error) {
	v, ok := p[name]
	if !ok || v == nil {
		return def, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, Errorf(StatusInvalidArgument, "parameter %q: want a duration string, got %v", name, v)
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, Errorf(StatusInvalidArgument, "parameter %q: %v", name, err)
	}
	return d, nil
}

// Unknown returns an INVALID_ARGUMENT error for the first parameter in p
// that d does not declare, or nil. Plugins call it at the top of train.
func (p Params) Unknown(d *Description) error {
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := d.Parameter(name); !ok {
			return Errorf(StatusInvalidArgument, "parameter %q: unknown to plugin %s (known: %s)", name, d.Name, d.paramNames())
		}
	}
	return nil
}
