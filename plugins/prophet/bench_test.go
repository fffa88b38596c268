package prophet

import (
	"testing"
)

// BenchmarkFit20160 fits 14 days of 1-minute data with daily and weekly
// seasonality (weekly forced: 20,160 minutes span just under the 14 days
// auto-detection needs).
func BenchmarkFit20160(b *testing.B) {
	ts, ys := synthetic(20160, 60_000, 5)
	o := DefaultOptions()
	o.WeeklySeasonality = SeasonalityArg{Order: 3}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m, err := Fit(o, Data{T: ts, Y: ys})
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Features.Seasonalities) != 2 {
			b.Fatalf("seasonalities %+v", m.Features.Seasonalities)
		}
	}
}

// BenchmarkPredict60x1000 predicts 60 future minutes with 1000 simulated
// paths for the interval.
func BenchmarkPredict60x1000(b *testing.B) {
	ts, ys := synthetic(20160, 60_000, 5)
	o := DefaultOptions()
	o.WeeklySeasonality = SeasonalityArg{Order: 3}
	m, err := Fit(o, Data{T: ts, Y: ys})
	if err != nil {
		b.Fatal(err)
	}
	future := make([]int64, 60)
	for i := range future {
		future[i] = ts[len(ts)-1] + int64(i+1)*60_000
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f, err := m.Predict(future, nil, 7)
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Lower) != 60 {
			b.Fatal("no intervals")
		}
	}
}
