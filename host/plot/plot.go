// Package plot draws PPA's charts with gonum.org/v1/plot: demand against
// each autoscaler's ready capacity over time, the trade-off curves of a
// simulation sweep, and a forecast with its interval against the actual
// values. Charts are stacked vertically into one file whose format follows
// its extension: .svg, .png, or .html (the SVG inside a minimal HTML page).
package plot

import (
	"bytes"
	"fmt"
	"html"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// MaxPoints is the most points a line is drawn with. A longer line is
// reduced to the minimum and maximum of each of MaxPoints/2 buckets, which
// keeps its envelope (peaks and troughs) while keeping files small.
const MaxPoints = 4000

// Line is a named series over time.
type Line struct {
	Name string
	// T holds Unix milliseconds, ascending; Y the values (NaN breaks the line).
	T []int64
	Y []float64
}

// Chart is one chart, ready to be written with Write or Save.
type Chart struct {
	p *gplot.Plot
}

// Palette: colour-blind-safe (Okabe–Ito) colours used in order.
var palette = []color.Color{
	color.RGBA{0, 0, 0, 255},       // demand / actual: black
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{230, 159, 0, 255},   // orange
}

func colorAt(i int) color.Color { return palette[i%len(palette)] }

func newPlot(title, xLabel, yLabel string) *gplot.Plot {
	p := gplot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

func timeAxis(p *gplot.Plot, from, to int64) {
	format := "2006-01-02"
	if to-from <= 3*24*3600*1000 {
		format = "01-02 15:04"
	}
	p.X.Tick.Marker = gplot.TimeTicks{Format: format}
	p.X.Label.Text = "time (UTC)"
}

// Timeline draws lines over time. The first line is drawn in black (the
// demand or actual values), the others in distinct colours; step draws
// them as steps (each value holds until the next timestamp).
func Timeline(title, yLabel string, lines []Line, step bool) (*Chart, error) {
	p := newPlot(title, "time (UTC)", yLabel)
	from, to := int64(math.MaxInt64), int64(math.MinInt64)
	for i, l := range lines {
		if len(l.T) != len(l.Y) {
			return nil, fmt.Errorf("plot: line %q: %d timestamps but %d values", l.Name, len(l.T), len(l.Y))
		}
		if len(l.T) == 0 {
			continue
		}
		from, to = min(from, l.T[0]), max(to, l.T[len(l.T)-1])
		style := draw.LineStyle{Color: colorAt(i), Width: vg.Points(1)}
		if i == 0 {
			style.Width = vg.Points(0.8)
		}
		kind := plotter.NoStep
		t, y := l.T, l.Y
		if len(t) > MaxPoints {
			t, y = envelope(t, y, MaxPoints/2)
		} else if step {
			kind = plotter.PostStep
		}
		if err := addSegments(p, l.Name, t, y, style, kind); err != nil {
			return nil, err
		}
	}
	if from <= to {
		timeAxis(p, from, to)
	}
	return &Chart{p: p}, nil
}

// addSegments adds a line broken at NaN values, with one legend entry.
func addSegments(p *gplot.Plot, name string, t []int64, y []float64, style draw.LineStyle, kind plotter.StepKind) error {
	var first *plotter.Line
	flush := func(xys plotter.XYs) error {
		if len(xys) == 0 {
			return nil
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("plot: line %q: %w", name, err)
		}
		l.LineStyle, l.StepStyle = style, kind
		p.Add(l)
		if first == nil {
			first = l
		}
		return nil
	}
	var seg plotter.XYs
	for i := range t {
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			if err := flush(seg); err != nil {
				return err
			}
			seg = nil
			continue
		}
		seg = append(seg, plotter.XY{X: float64(t[i]) / 1000, Y: y[i]})
	}
	if err := flush(seg); err != nil {
		return err
	}
	if first != nil && name != "" {
		p.Legend.Add(name, first)
	}
	return nil
}

// envelope reduces a series to the minimum and the maximum of each of n
// buckets of equal length, in time order; a bucket with no number gives a
// NaN (a break).
func envelope(t []int64, y []float64, n int) ([]int64, []float64) {
	ot, oy := make([]int64, 0, 2*n), make([]float64, 0, 2*n)
	size := (len(t) + n - 1) / n
	for b := 0; b < len(t); b += size {
		e := min(b+size, len(t))
		lo, hi := -1, -1
		for i := b; i < e; i++ {
			if math.IsNaN(y[i]) {
				continue
			}
			if lo < 0 || y[i] < y[lo] {
				lo = i
			}
			if hi < 0 || y[i] > y[hi] {
				hi = i
			}
		}
		switch {
		case lo < 0:
			ot, oy = append(ot, t[b]), append(oy, math.NaN())
		case lo == hi:
			ot, oy = append(ot, t[lo]), append(oy, y[lo])
		case lo < hi:
			ot, oy = append(ot, t[lo], t[hi]), append(oy, y[lo], y[hi])
		default:
			ot, oy = append(ot, t[hi], t[lo]), append(oy, y[hi], y[lo])
		}
	}
	return ot, oy
}

// Curve is a named trade-off curve: points (X, Y), each with a label.
type Curve struct {
	Name   string
	X, Y   []float64
	Labels []string
}

// Tradeoff draws curves as lines with point markers and labels, e.g.
// under-provisioned minutes against replica-hours, one point per target
// utilisation.
func Tradeoff(title, xLabel, yLabel string, curves []Curve) (*Chart, error) {
	p := newPlot(title, xLabel, yLabel)
	p.Legend.Left = false
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}}
	for i, c := range curves {
		if len(c.X) != len(c.Y) || len(c.Labels) != 0 && len(c.Labels) != len(c.X) {
			return nil, fmt.Errorf("plot: curve %q: %d x, %d y and %d labels", c.Name, len(c.X), len(c.Y), len(c.Labels))
		}
		xys := make(plotter.XYs, len(c.X))
		for k := range c.X {
			xys[k] = plotter.XY{X: c.X[k], Y: c.Y[k]}
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("plot: curve %q: %w", c.Name, err)
		}
		col := colorAt(i + 1)
		l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.2)}
		s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(3), Shape: shapes[i%len(shapes)]}
		p.Add(l, s)
		p.Legend.Add(c.Name, l, s)
		if len(c.Labels) > 0 {
			labels, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: c.Labels})
			if err != nil {
				return nil, fmt.Errorf("plot: curve %q: %w", c.Name, err)
			}
			for k := range labels.TextStyle {
				labels.TextStyle[k].Color = col
				labels.TextStyle[k].Font.Size = vg.Points(7)
			}
			labels.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(3)}
			p.Add(labels)
		}
	}
	return &Chart{p: p}, nil
}

// Band is a forecast with its prediction interval. Lower and Upper may be
// empty (no interval).
type Band struct {
	Name               string
	T                  []int64
	Yhat, Lower, Upper []float64
}

// Forecast draws a forecast band (interval shaded, yhat as a line) over the
// actual values.
func Forecast(title, yLabel string, actual Line, band Band) (*Chart, error) {
	if len(band.Yhat) != len(band.T) || len(band.Lower) != 0 && len(band.Lower) != len(band.T) || len(band.Upper) != 0 && len(band.Upper) != len(band.T) {
		return nil, fmt.Errorf("plot: forecast %q: %d timestamps, %d yhat, %d lower, %d upper", band.Name, len(band.T), len(band.Yhat), len(band.Lower), len(band.Upper))
	}
	c, err := Timeline(title, yLabel, []Line{actual}, false)
	if err != nil {
		return nil, err
	}
	p := c.p
	col := colorAt(2)
	if len(band.Lower) > 0 && len(band.Upper) > 0 {
		t, lo, hi := band.T, band.Lower, band.Upper
		if len(t) > MaxPoints {
			// Widest envelope of each bucket: min of lower, max of upper.
			t1, l1 := envelope(t, lo, MaxPoints/2)
			_, h1 := envelope(t, hi, MaxPoints/2)
			if len(h1) == len(l1) {
				t, lo, hi = t1, l1, h1
			}
		}
		fill := color.NRGBA{R: 0, G: 114, B: 178, A: 60}
		var first *plotter.Polygon
		for _, seg := range runs(lo, hi) {
			pts := make(plotter.XYs, 0, 2*(seg[1]-seg[0]))
			for i := seg[0]; i < seg[1]; i++ {
				pts = append(pts, plotter.XY{X: float64(t[i]) / 1000, Y: hi[i]})
			}
			for i := seg[1] - 1; i >= seg[0]; i-- {
				pts = append(pts, plotter.XY{X: float64(t[i]) / 1000, Y: lo[i]})
			}
			poly, err := plotter.NewPolygon(pts)
			if err != nil {
				return nil, fmt.Errorf("plot: forecast %q: interval: %w", band.Name, err)
			}
			poly.Color, poly.LineStyle.Width = fill, 0
			p.Add(poly)
			if first == nil {
				first = poly
			}
		}
		if first != nil {
			p.Legend.Add("interval", first)
		}
	}
	t, y := band.T, band.Yhat
	if len(t) > MaxPoints {
		t, y = envelope(t, y, MaxPoints/2)
	}
	if err := addSegments(p, band.Name, t, y, draw.LineStyle{Color: col, Width: vg.Points(1.2)}, plotter.NoStep); err != nil {
		return nil, err
	}
	if len(band.T) > 0 && len(actual.T) > 0 {
		timeAxis(p, min(band.T[0], actual.T[0]), max(band.T[len(band.T)-1], actual.T[len(actual.T)-1]))
	}
	return c, nil
}

// runs returns the [start, end) index ranges where both a and b are numbers.
func runs(a, b []float64) [][2]int {
	var out [][2]int
	start := -1
	for i := range a {
		ok := !math.IsNaN(a[i]) && !math.IsNaN(b[i]) && !math.IsInf(a[i], 0) && !math.IsInf(b[i], 0)
		switch {
		case ok && start < 0:
			start = i
		case !ok && start >= 0:
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, [2]int{start, len(a)})
	}
	return out
}

// Size of one chart in a file.
const (
	width       = 10 * vg.Inch
	chartHeight = 4 * vg.Inch
)

// Formats lists the file formats Save and Write support.
var Formats = []string{"svg", "png", "html"}

// FormatOf returns the format of a file name from its extension.
func FormatOf(path string) (string, error) {
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	for _, f := range Formats {
		if ext == f {
			return f, nil
		}
	}
	return "", fmt.Errorf("plot %s: unknown extension %q: want .svg, .png or .html", path, filepath.Ext(path))
}

// Save writes charts stacked vertically to path, in the format its
// extension names.
func Save(path, title string, charts ...*Chart) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := Write(&buf, format, title, charts...); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// Write writes charts stacked vertically in format ("svg", "png" or
// "html"); title is the HTML page's title.
func Write(w io.Writer, format, title string, charts ...*Chart) error {
	if len(charts) == 0 {
		return fmt.Errorf("no chart to write")
	}
	canvasFormat := format
	if format == "html" {
		canvasFormat = "svg"
	} else if format != "svg" && format != "png" {
		return fmt.Errorf("unknown format %q: want svg, png or html", format)
	}
	h := chartHeight * vg.Length(len(charts))
	c, err := draw.NewFormattedCanvas(width, h, canvasFormat)
	if err != nil {
		return err
	}
	dc := draw.New(c)
	plots := make([][]*gplot.Plot, len(charts))
	for i, ch := range charts {
		plots[i] = []*gplot.Plot{ch.p}
	}
	tiles := draw.Tiles{Rows: len(charts), Cols: 1, PadY: vg.Points(12), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	canvases := gplot.Align(plots, tiles, dc)
	for i, ch := range charts {
		ch.p.Draw(canvases[i][0])
	}
	if format != "html" {
		_, err = c.WriteTo(w)
		return err
	}
	var svg bytes.Buffer
	if _, err := c.WriteTo(&svg); err != nil {
		return err
	}
	body := svg.String()
	if i := strings.Index(body, "<svg"); i > 0 {
		body = body[i:] // drop the XML prologue: not allowed inside HTML
	}
	_, err = fmt.Fprintf(w, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>body{margin:1em;font-family:sans-serif}svg{max-width:100%%;height:auto}</style>\n</head>\n<body>\n<h1>%s</h1>\n%s\n</body>\n</html>\n",
		html.EscapeString(title), html.EscapeString(title), body)
	return err
}
