package simulate

import (
	"fmt"
	"math"
	"time"

	"github.com/ppa-autoscaler/ppa/host/series"
)

// maxGridSteps bounds the regular grid built from a trace (about 19 years
// of minutes), so that a wrong timestamp cannot allocate without limit.
const maxGridSteps = 10_000_000

// grid is a trace on a regular time grid: T(i) = t0 + i×step.
type grid struct {
	t0, step int64 // Unix milliseconds
	y        []float64
	holes    int // grid steps absent from the input (set to NaN)
}

func (g *grid) at(i int) int64 { return g.t0 + int64(i)*g.step }

func (g *grid) stepDuration() time.Duration { return time.Duration(g.step) * time.Millisecond }

// regularize puts s on the grid of its most common step. A row off the
// grid is an error; a missing row becomes NaN.
func regularize(s *series.Series) (*grid, error) {
	if s.Len() < 2 {
		return nil, fmt.Errorf("series: %d rows, need at least 2 to know the step", s.Len())
	}
	step := s.Step().Milliseconds()
	if step <= 0 {
		return nil, fmt.Errorf("series: step %s: must be positive", s.Step())
	}
	t0 := s.T[0]
	span := (s.T[len(s.T)-1] - t0) / step
	if span >= maxGridSteps {
		return nil, fmt.Errorf("series: %d steps of %s from %s to %s, more than the limit of %d", span+1, s.Step(), s.Time(0).Format(time.RFC3339), s.Time(s.Len()-1).Format(time.RFC3339), maxGridSteps)
	}
	g := &grid{t0: t0, step: step, y: make([]float64, span+1)}
	for i := range g.y {
		g.y[i] = math.NaN()
	}
	for i, t := range s.T {
		if (t-t0)%step != 0 {
			return nil, fmt.Errorf("row %d: timestamp %s is off the %s grid that starts at %s", i+1, s.Time(i).Format(time.RFC3339), s.Step(), s.Time(0).Format(time.RFC3339))
		}
		g.y[(t-t0)/step] = s.Y[i]
	}
	g.holes = len(g.y) - s.Len()
	return g, nil
}

// stepsCeil returns d in whole steps, rounded up.
func stepsCeil(d time.Duration, step int64) int {
	ms := d.Milliseconds()
	return int((ms + step - 1) / step)
}
