package prophet

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseTime parses the date formats of the test data (UTC).
func parseTime(t testing.TB, s string) int64 {
	t.Helper()
	s = strings.Trim(strings.TrimSpace(s), `"`)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if tm, err := time.Parse(layout, s); err == nil {
			return tm.UnixMilli()
		}
	}
	t.Fatalf("cannot parse time %q", s)
	return 0
}

// readCSV reads a "ds,y" file.
func readCSV(t testing.TB, path string) ([]int64, []float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ts []int64
	var ys []float64
	sc := bufio.NewScanner(f)
	sc.Split(scanAnyLines)
	first := true
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if first {
			first = false
			continue
		}
		parts := strings.Split(line, ",")
		ts = append(ts, parseTime(t, parts[0]))
		y := math.NaN()
		if v := strings.Trim(strings.TrimSpace(parts[1]), `"`); v != "" && v != "NaN" && v != "nan" {
			y, err = strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		ys = append(ys, y)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ts, ys
}

// scanAnyLines splits on \n, \r\n or a lone \r.
func scanAnyLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' {
			end := i
			if end > 0 && data[end-1] == '\r' {
				end--
			}
			return i + 1, data[:end], nil
		}
		if b == '\r' && i+1 < len(data) && data[i+1] != '\n' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		if data[len(data)-1] == '\r' {
			return len(data), data[:len(data)-1], nil
		}
		return len(data), data, nil
	}
	return 0, nil, nil
}

func rmse(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s / float64(len(a)))
}

// dailyAfter returns n timestamps one day apart after last.
func dailyAfter(last int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = last + int64(i+1)*msPerDay
	}
	return out
}
