// Package series holds the host's time-series type and reads it from CSV.
//
// A Series is a pair of aligned slices: timestamps in Unix milliseconds
// (strictly ascending) and float64 values where NaN marks a missing value.
// This is also the layout of the plugin ABI, so a Series goes to a plugin
// without conversion.
package series

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Series is a univariate time series.
type Series struct {
	// T holds Unix milliseconds, strictly ascending.
	T []int64
	// Y holds the values; NaN marks a missing value.
	Y []float64
}

// Len returns the number of rows, missing ones included.
func (s *Series) Len() int { return len(s.T) }

// Time returns row i's timestamp as a UTC time.
func (s *Series) Time(i int) time.Time { return time.UnixMilli(s.T[i]).UTC() }

// Valid returns the number of non-missing values.
func (s *Series) Valid() int {
	n := 0
	for _, y := range s.Y {
		if !math.IsNaN(y) {
			n++
		}
	}
	return n
}

// Step returns the most common gap between consecutive rows (the sampling
// step), or 0 for fewer than two rows.
func (s *Series) Step() time.Duration {
	if len(s.T) < 2 {
		return 0
	}
	counts := map[int64]int{}
	for i := 1; i < len(s.T); i++ {
		counts[s.T[i]-s.T[i-1]]++
	}
	best, bestN := int64(0), 0
	for d, n := range counts {
		if n > bestN || n == bestN && d < best {
			best, bestN = d, n
		}
	}
	return time.Duration(best) * time.Millisecond
}

// Slice returns the rows with from <= T < to (Unix milliseconds), sharing
// storage with s.
func (s *Series) Slice(from, to int64) *Series {
	i := sort.Search(len(s.T), func(i int) bool { return s.T[i] >= from })
	j := sort.Search(len(s.T), func(i int) bool { return s.T[i] >= to })
	return &Series{T: s.T[i:j], Y: s.Y[i:j]}
}

// Head returns the first n rows, sharing storage with s.
func (s *Series) Head(n int) *Series {
	n = min(n, len(s.T))
	return &Series{T: s.T[:n], Y: s.Y[:n]}
}

// Validate checks that timestamps are strictly ascending and the slices are
// aligned; errors name the offending row (1-based, as in a CSV body).
func (s *Series) Validate() error {
	if len(s.T) != len(s.Y) {
		return fmt.Errorf("series: %d timestamps but %d values", len(s.T), len(s.Y))
	}
	for i := 1; i < len(s.T); i++ {
		switch {
		case s.T[i] == s.T[i-1]:
			return fmt.Errorf("row %d: duplicate timestamp %s", i+1, s.Time(i).Format(time.RFC3339))
		case s.T[i] < s.T[i-1]:
			return fmt.Errorf("row %d: timestamp %s is before the previous row's %s (rows must be sorted)", i+1, s.Time(i).Format(time.RFC3339), s.Time(i-1).Format(time.RFC3339))
		}
	}
	return nil
}

// ErrNoRows is returned by ReadCSV for a file with a header and no data.
var ErrNoRows = errors.New("no data rows")

// Limits of ReadCSV: the rows of a series are held in memory (16 bytes
// each, and a plugin holds them again in its capped memory), so input
// larger than any plugin could take is refused while it is read, in
// bounded memory, rather than after it has all been read.
const (
	// MaxRows is the most data rows ReadCSV reads (3.8 years at one
	// minute, 115 days at five seconds; a plugin with the default 256 MiB
	// memory cap cannot take much more).
	MaxRows = 2_000_000
	// MaxLineBytes bounds one line (a record).
	MaxLineBytes = 64 << 10
)

// TimeLayout formats timestamps in CSV output: RFC 3339 with as many
// fraction digits as the milliseconds need (none for whole seconds), so
// that sub-second rows stay distinct.
const TimeLayout = "2006-01-02T15:04:05.999Z07:00"

// ReadFile reads a CSV file; see ReadCSV.
func ReadFile(path string) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	s, err := ReadCSV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ReadCSV reads a CSV with a header naming the columns "ds" and "y" (other
// columns are ignored). ds is RFC 3339 or "YYYY-MM-DD[ HH:MM[:SS]]" (UTC);
// an empty y or "NaN" is a missing value. Rows must be strictly ascending.
// Errors name the line and the problem.
func ReadCSV(r io.Reader) (*Series, error) {
	return readCSV(r, MaxRows)
}

func readCSV(r io.Reader, maxRows int) (*Series, error) {
	lr := &lineLimitReader{r: r, max: MaxLineBytes}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("empty file: want a header line \"ds,y\"")
	}
	if err != nil {
		return nil, fmt.Errorf("line 1: %w", lr.explain(err))
	}
	header = slices.Clone(header) // the reader reuses its record
	dsCol, yCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "ds":
			dsCol = i
		case "y":
			yCol = i
		}
	}
	if dsCol < 0 || yCol < 0 {
		return nil, fmt.Errorf("line 1: header %q must name the columns ds and y", strings.Join(header, ","))
	}
	s := &Series{}
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, lr.explain(err))
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("line %d: %d fields, the header has %d (%s)", line, len(rec), len(header), strings.Join(header, ","))
		}
		if len(s.T) == maxRows {
			return nil, fmt.Errorf("line %d: more than %d data rows, the most a series may have", line, maxRows)
		}
		ts, err := ParseTime(rec[dsCol])
		if err != nil {
			return nil, fmt.Errorf("line %d: ds: %w", line, err)
		}
		y, err := parseValue(rec[yCol])
		if err != nil {
			return nil, fmt.Errorf("line %d: y: %w", line, err)
		}
		ms := ts.UnixMilli()
		if n := len(s.T); n > 0 {
			if ms == s.T[n-1] {
				return nil, fmt.Errorf("line %d: duplicate timestamp %s", line, rec[dsCol])
			}
			if ms < s.T[n-1] {
				return nil, fmt.Errorf("line %d: timestamp %s is before the previous line's (rows must be sorted by ds)", line, rec[dsCol])
			}
		}
		s.T = append(s.T, ms)
		s.Y = append(s.Y, y)
	}
	if len(s.T) == 0 {
		return nil, ErrNoRows
	}
	return s, nil
}

// lineLimitReader fails a read once a line exceeds max bytes, so that a
// file without newlines is not buffered whole by the CSV reader.
type lineLimitReader struct {
	r    io.Reader
	max  int
	cur  int // bytes since the last newline
	over bool
}

var errLineTooLong = errors.New("line too long")

func (l *lineLimitReader) Read(p []byte) (int, error) {
	if l.over {
		return 0, errLineTooLong
	}
	n, err := l.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			l.cur = 0
			continue
		}
		l.cur++
		if l.cur > l.max {
			l.over = true
			return i, errLineTooLong
		}
	}
	return n, err
}

// explain turns the reader's own error into a sentence.
func (l *lineLimitReader) explain(err error) error {
	if errors.Is(err, errLineTooLong) {
		return fmt.Errorf("longer than %d bytes (is this a CSV file with one row per line?)", l.max)
	}
	return err
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ParseTime parses a ds value: RFC 3339, or "YYYY-MM-DD[ HH:MM[:SS]]" taken
// as UTC.
func ParseTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as a time (want RFC 3339 or YYYY-MM-DD[ HH:MM:SS])", v)
}

func parseValue(v string) (float64, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, "nan") || strings.EqualFold(v, "na") {
		return math.NaN(), nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q as a number", v)
	}
	if math.IsInf(f, 0) {
		return 0, fmt.Errorf("value %q is infinite", v)
	}
	return f, nil
}

// WriteCSV writes s with a "ds,y" header, RFC 3339 timestamps (with
// milliseconds when not whole seconds, see TimeLayout) and NaN for missing
// values.
func WriteCSV(w io.Writer, s *Series) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"ds", "y"}); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for i := range s.T {
		y := "NaN"
		if !math.IsNaN(s.Y[i]) {
			y = strconv.FormatFloat(s.Y[i], 'g', -1, 64)
		}
		if err := cw.Write([]string{s.Time(i).Format(TimeLayout), y}); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
