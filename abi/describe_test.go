package abi

import (
	"strings"
	"testing"
	"time"
)

func TestParseParams(t *testing.T) {
	d := &Description{Name: "x", Version: "1", Parameters: []Parameter{
		{Name: "n", Type: ParamInt}, {Name: "f", Type: ParamFloat}, {Name: "b", Type: ParamBool},
		{Name: "s", Type: ParamString, Enum: []string{"additive", "multiplicative"}},
		{Name: "d", Type: ParamDuration}, {Name: "j", Type: ParamJSON},
	}}
	tests := []struct {
		in      map[string]string
		want    Params
		wantErr string
	}{
		{map[string]string{"n": "3", "f": "0.5", "b": "true", "s": "additive", "d": "1d2h", "j": `[1,2]`},
			Params{"n": 3.0, "f": 0.5, "b": true, "s": "additive", "d": "1d2h", "j": []any{1.0, 2.0}}, ""},
		{map[string]string{"j": "auto"}, Params{"j": "auto"}, ""},
		{map[string]string{"nope": "1"}, nil, `parameter "nope": unknown`},
		{map[string]string{"n": "1.5"}, nil, `parameter "n": "1.5" is not an integer`},
		{map[string]string{"b": "maybe"}, nil, `parameter "b"`},
		{map[string]string{"s": "other"}, nil, `not one of additive, multiplicative`},
		{map[string]string{"d": "5"}, nil, `parameter "d": invalid duration`},
	}
	for _, tc := range tests {
		got, err := d.ParseParams(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseParams(%v) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseParams(%v): %v", tc.in, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseParams(%v) = %v", tc.in, got)
		}
		if err := d.CheckParams(got); err != nil {
			t.Errorf("CheckParams(%v): %v", got, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"5m", 5 * time.Minute, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"0.5d", 12 * time.Hour, false},
		{"", 0, true},
		{"5", 0, true},
		{"xd", 0, true},
		{"-1d", 0, true},
		// Overflow used to wrap: 3000000d became a negative duration.
		{"3000000d", 0, true},
		{"106752d", 0, true},
		{"106751d23h47m", 106751*24*time.Hour + 23*time.Hour + 47*time.Minute, false},
		{"106751d23h48m", 0, true},
		{"106751d24h", 0, true},
		{"NaNd", 0, true},
		{"Infd", 0, true},
		{"1e300d", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestDescriptionValidate(t *testing.T) {
	tests := []struct {
		d       Description
		wantErr string
	}{
		{Description{Name: "ok-1", Version: "1.0.0"}, ""},
		{Description{Version: "1"}, "name is empty"},
		{Description{Name: "Bad Name", Version: "1"}, "only a-z"},
		{Description{Name: "a"}, "version is empty"},
		{Description{Name: "a", Version: "1", Parameters: []Parameter{{Name: "x", Type: "weird"}}}, "unknown type"},
		{Description{Name: "a", Version: "1", Parameters: []Parameter{{Name: "x", Type: ParamInt}, {Name: "x", Type: ParamInt}}}, "twice"},
	}
	for _, tc := range tests {
		err := tc.d.Validate()
		if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.d, err, tc.wantErr)
		}
	}
}
