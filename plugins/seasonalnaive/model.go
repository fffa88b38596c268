package seasonalnaive

import (
	"encoding/binary"
	"math"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/internal/series"
)

// The model is a little-endian binary record:
//
//	offset size  field
//	0      8     magic "ppasnaiv"
//	8      2     format version (1)
//	10     1     flags: bit 0 = widen intervals by sqrt(k)
//	11     8     season, ms (i64, > 0)
//	19     8     step, ms (i64, > 0, ≤ season)
//	27     8     end: time of the last observation, Unix ms (i64)
//	35     8     lower error quantile (f64, ≤ 0)
//	43     8     upper error quantile (f64, ≥ 0)
//	51     8     last observed value (f64)
//	59     4     n: number of grid values (u32, ≥ 1)
//	63     8·n   values on the grid end−(n−1)·step … end; NaN = not observed
const (
	modelMagic   = "ppasnaiv"
	modelVersion = 1
	headerSize   = 63
	flagWiden    = 1
)

// model is what predict needs.
type model struct {
	season, step, end int64
	qLo, qHi          float64
	widen             bool
	last              float64
	values            []float64
}

func (m *model) marshal() []byte {
	b := make([]byte, 0, headerSize+8*len(m.values))
	b = append(b, modelMagic...)
	b = binary.LittleEndian.AppendUint16(b, modelVersion)
	var flags byte
	if m.widen {
		flags |= flagWiden
	}
	b = append(b, flags)
	for _, v := range []int64{m.season, m.step, m.end} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	for _, v := range []float64{m.qLo, m.qHi, m.last} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.values)))
	for _, v := range m.values {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func invalidModel(format string, args ...any) error {
	return abi.Errorf(abi.StatusInvalidModel, "model: "+format, args...)
}

func unmarshalModel(b []byte) (*model, error) {
	if len(b) < headerSize {
		return nil, invalidModel("%d bytes is shorter than the %d-byte header of a %s model", len(b), headerSize, Name)
	}
	if string(b[:8]) != modelMagic {
		return nil, invalidModel("not a %s model (bad magic)", Name)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != modelVersion {
		return nil, invalidModel("format version %d is not supported (want %d): retrain the model", v, modelVersion)
	}
	flags := b[10]
	if flags&^flagWiden != 0 {
		return nil, invalidModel("unknown flags %#x", flags)
	}
	i64 := func(off int) int64 { return int64(binary.LittleEndian.Uint64(b[off:])) }
	f64 := func(off int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b[off:])) }
	m := &model{
		season: i64(11),
		step:   i64(19),
		end:    i64(27),
		qLo:    f64(35),
		qHi:    f64(43),
		widen:  flags&flagWiden != 0,
		last:   f64(51),
	}
	n := binary.LittleEndian.Uint32(b[59:])
	switch {
	case m.step <= 0 || m.season < m.step:
		return nil, invalidModel("step %d ms and season %d ms are inconsistent", m.step, m.season)
	case m.season/m.step > maxSeasonSteps:
		return nil, invalidModel("season of %d steps exceeds %d", m.season/m.step, maxSeasonSteps)
	case !(m.qLo <= 0) || !(m.qHi >= 0) || math.IsInf(m.qLo, 0) || math.IsInf(m.qHi, 0):
		return nil, invalidModel("error quantiles %v, %v are not a finite interval around 0", m.qLo, m.qHi)
	case m.end > series.MaxAbsTime || m.end < -series.MaxAbsTime:
		return nil, invalidModel("end time %d ms is out of range", m.end)
	case math.IsNaN(m.last) || math.IsInf(m.last, 0):
		return nil, invalidModel("last value %v is not finite", m.last)
	case n == 0 || uint64(n) > uint64(keptSeasons*maxSeasonSteps+2):
		return nil, invalidModel("%d grid values is out of range", n)
	case uint64(len(b)-headerSize) != 8*uint64(n):
		return nil, invalidModel("%d bytes of values for %d grid values", len(b)-headerSize, n)
	}
	m.values = make([]float64, n)
	for i := range m.values {
		v := f64(headerSize + 8*i)
		if math.IsInf(v, 0) {
			return nil, invalidModel("grid value %d is infinite", i)
		}
		m.values[i] = v
	}
	return m, nil
}

// lookup returns the forecast for time t and the number of seasons k it
// reaches back (k ≥ 1), which scales the interval.
func (m *model) lookup(t int64) (float64, int64) {
	n := int64(len(m.values))
	// The smallest k with t − k·season at or before the end of history,
	// less one in case rounding to the nearest step lands on the last cell.
	k := max(1, ceilDiv(t-m.end, m.season)-1)
	for ; ; k++ {
		rel := series.RoundDiv(t-k*m.season-m.end, m.step)
		if rel > 0 {
			continue
		}
		idx := n - 1 + rel
		if idx < 0 {
			break
		}
		if v := m.values[idx]; !math.IsNaN(v) {
			return v, k
		}
	}
	// Nothing observed at this phase in the stored seasons: fall back to the
	// last observed value (the naive forecast).
	return m.last, max(1, ceilDiv(t-m.end, m.season))
}

// ceilDiv divides rounding towards +∞; b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}
