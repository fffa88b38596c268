package seasonalprofile

import (
	"encoding/binary"
	"math"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/internal/series"
)

// The model is a little-endian binary record:
//
//	offset size  field
//	0      8     magic "ppasprof"
//	8      2     format version (1)
//	10     1     flags: bit 0 = weekday offsets apply
//	11     8     step, ms (i64, > 0)
//	19     8     season, ms (i64, a multiple of step)
//	27     8     lower residual quantile (f64, ≤ 0)
//	35     8     upper residual quantile (f64, ≥ 0)
//	43     56    weekday offsets, Sunday first (7 × f64)
//	99     8·P   the smoothed profile, P = season/step values, phase 0 first
const (
	modelMagic   = "ppasprof"
	modelVersion = 1
	headerSize   = 99
	flagWeekly   = 1
)

// model is what predict needs.
type model struct {
	step, season int64
	weekly       bool
	qLo, qHi     float64
	offsets      [7]float64
	profile      []float64
}

// at returns yhat at t (Unix ms): the profile at t's phase (the grid step
// at or before t) plus t's weekday offset.
func (m *model) at(t int64) float64 {
	p := series.FloorMod(series.FloorDiv(t, m.step), int64(len(m.profile)))
	y := m.profile[p]
	if m.weekly {
		y += m.offsets[weekday(t)]
	}
	return y
}

func (m *model) marshal() []byte {
	b := make([]byte, 0, headerSize+8*len(m.profile))
	b = append(b, modelMagic...)
	b = binary.LittleEndian.AppendUint16(b, modelVersion)
	var flags byte
	if m.weekly {
		flags |= flagWeekly
	}
	b = append(b, flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.step))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.season))
	for _, v := range append([]float64{m.qLo, m.qHi}, m.offsets[:]...) {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	for _, v := range m.profile {
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
	if flags&^flagWeekly != 0 {
		return nil, invalidModel("unknown flags %#x", flags)
	}
	f64 := func(off int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b[off:])) }
	m := &model{
		weekly: flags&flagWeekly != 0,
		step:   int64(binary.LittleEndian.Uint64(b[11:])),
		season: int64(binary.LittleEndian.Uint64(b[19:])),
		qLo:    f64(27), qHi: f64(35),
	}
	for d := range m.offsets {
		m.offsets[d] = f64(43 + 8*d)
	}
	switch {
	case m.step <= 0 || m.season <= 0 || m.season%m.step != 0:
		return nil, invalidModel("step %d ms and season %d ms: want positive, the season a multiple of the step", m.step, m.season)
	case m.season/m.step > maxPhases:
		return nil, invalidModel("season %d ms is more than %d steps", m.season, maxPhases)
	}
	phases := int(m.season / m.step)
	if want := headerSize + 8*phases; len(b) != want {
		return nil, invalidModel("%d bytes, want %d for %d phases", len(b), want, phases)
	}
	m.profile = make([]float64, phases)
	for p := range m.profile {
		m.profile[p] = f64(headerSize + 8*p)
	}
	for _, v := range append(append([]float64{m.qLo, m.qHi}, m.offsets[:]...), m.profile...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, invalidModel("a stored number is not finite")
		}
	}
	return m, nil
}
