package series

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// FuzzReadCSV reads arbitrary CSV: it is refused naming a line, or read
// into a valid series that writes and reads back unchanged.
func FuzzReadCSV(f *testing.F) {
	f.Add("ds,y\n2024-01-01T00:00:00Z,1\n2024-01-01 00:01:00,NaN\n2024-01-01 00:02,\n")
	f.Add("y,ds,extra\n1,2024-01-01,a\nNaN,2024-01-02,b\n")
	f.Add("ds,y\n2024-01-01T00:00:00.25Z,1\n2024-01-01T00:00:00.5Z,2\n")
	f.Add("\ufeffDS,Y\n2024-01-01,1e308\n2024-01-02,-1e308\n")
	f.Add("ds,y\n\"2024-01-01\",\"1\"\n2024-01-02,2,3\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := readCSV(strings.NewReader(in), 1000)
		if err != nil {
			if err != ErrNoRows && !strings.Contains(err.Error(), "line ") && !strings.HasPrefix(err.Error(), "empty file") {
				t.Fatalf("error %q names no line", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("read an invalid series: %v", err)
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, s); err != nil {
			t.Fatal(err)
		}
		back, err := readCSV(&buf, 1000)
		if err != nil {
			t.Fatalf("written series does not read back: %v\n%s", err, buf.String())
		}
		if back.Len() != s.Len() {
			t.Fatalf("%d rows back, want %d", back.Len(), s.Len())
		}
		for i := range s.T {
			same := back.Y[i] == s.Y[i] || math.IsNaN(back.Y[i]) && math.IsNaN(s.Y[i])
			if back.T[i] != s.T[i] || !same {
				t.Fatalf("row %d: (%d, %v) back, want (%d, %v)", i, back.T[i], back.Y[i], s.T[i], s.Y[i])
			}
		}
	})
}
