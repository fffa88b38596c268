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
		// Extra fields were accepted without a word.
		{"extra field", "ds,y\n2024-01-01,1\n2024-01-02,2,7\n", "line 3: 3 fields, the header has 2 (ds,y)"},
		{"extra field with an extra column", "ds,y,note\n2024-01-01,1,a\n2024-01-02,2,b,c\n", "line 3: 4 fields, the header has 3"},
		{"line without end", "ds,y\n" + strings.Repeat("9", MaxLineBytes+10), "line 2: longer than 65536 bytes"},
		{"header without end", strings.Repeat("d", MaxLineBytes+10), "line 1: longer than 65536 bytes"},
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

// TestReadCSVRowLimit reads one row more than the limit: refused naming the
// line, while reading.
func TestReadCSVRowLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("ds,y\n")
	for i := range 11 {
		b.WriteString(time.Unix(int64(i)*60, 0).UTC().Format(time.RFC3339) + ",1\n")
	}
	if _, err := readCSV(strings.NewReader(b.String()), 11); err != nil {
		t.Fatalf("11 rows with a limit of 11: %v", err)
	}
	_, err := readCSV(strings.NewReader(b.String()), 10)
	if err == nil || !strings.Contains(err.Error(), "line 12: more than 10 data rows") {
		t.Fatalf("error = %v, want the row limit on line 12", err)
	}
}

// TestWriteCSVKeepsMilliseconds writes sub-second timestamps: they read
// back distinct and equal (RFC 3339 without fraction made duplicates).
func TestWriteCSVKeepsMilliseconds(t *testing.T) {
	s := &Series{T: []int64{1_700_000_000_000, 1_700_000_000_250, 1_700_000_000_500, 1_700_000_001_000}, Y: []float64{1, 2, 3, 4}}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "2023-11-14T22:13:20.25Z,2\n") || !strings.Contains(buf.String(), "2023-11-14T22:13:21Z,4\n") {
		t.Fatalf("csv:\n%s", buf.String())
	}
	back, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.T {
		if back.T[i] != s.T[i] {
			t.Fatalf("row %d: %d, want %d", i, back.T[i], s.T[i])
		}
	}
}
