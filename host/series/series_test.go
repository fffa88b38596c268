package series

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestReadCSV(t *testing.T) {
	in := "ds,y\n2024-01-01T00:00:00Z,1\n2024-01-01 00:01:00,NaN\n2024-01-01 00:02,\n2024-01-01T00:03:00+01:00,4\n"
	// The last row is 2023-12-31T23:03Z: out of order.
	if _, err := ReadCSV(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("want an ordering error on line 5, got %v", err)
	}
	in = "y,ds,extra\n1,2024-01-01,a\nNaN,2024-01-02,b\n3.5,2024-01-03,c\n"
	s, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Valid() != 2 || !math.IsNaN(s.Y[1]) || s.Y[2] != 3.5 {
		t.Fatalf("series = %+v", s)
	}
	if s.Step() != 24*time.Hour {
		t.Fatalf("step = %v", s.Step())
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, s); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.Len() != 3 || back.T[2] != s.T[2] || !math.IsNaN(back.Y[1]) {
		t.Fatalf("round trip = %+v", back)
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty file"},
		{"no header", "2024-01-01,1\n", `line 1: header "2024-01-01,1" must name the columns ds and y`},
		{"no rows", "ds,y\n", "no data rows"},
		{"bad time", "ds,y\n2024-01-01,1\nyesterday,2\n", `line 3: ds: cannot parse "yesterday"`},
		{"bad value", "ds,y\n2024-01-01,abc\n", `line 2: y: cannot parse "abc"`},
		{"infinite", "ds,y\n2024-01-01,Inf\n", `line 2: y: value "Inf" is infinite`},
		{"duplicate", "ds,y\n2024-01-01,1\n2024-01-01,2\n", "line 3: duplicate timestamp"},
		{"unsorted", "ds,y\n2024-01-02,1\n2024-01-01,2\n", "line 3: timestamp 2024-01-01 is before"},
		{"short row", "ds,y\n2024-01-01\n", "line 2: 1 fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSliceAndValidate(t *testing.T) {
	s := &Series{T: []int64{0, 10, 20, 30}, Y: []float64{1, 2, 3, 4}}
	if got := s.Slice(10, 30); got.Len() != 2 || got.T[0] != 10 {
		t.Fatalf("Slice = %+v", got)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := &Series{T: []int64{0, 0}, Y: []float64{1, 2}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "row 2: duplicate") {
		t.Fatalf("Validate = %v", err)
	}
}
