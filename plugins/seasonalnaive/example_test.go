package seasonalnaive_test

import (
	"fmt"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
)

func Example() {
	// Three days of hourly data whose value is the hour of the day.
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var ts []int64
	var ys []float64
	for i := 0; i < 72; i++ {
		ts = append(ts, start.Add(time.Duration(i)*time.Hour).UnixMilli())
		ys = append(ys, float64(i%24))
	}
	p := seasonalnaive.New()
	tr, err := p.Train(&abi.TrainRequest{Params: abi.Params{"season": "1d"}, Timestamps: ts, Values: ys})
	if err != nil {
		panic(err)
	}
	// Forecast 06:00 and 06:20 of the fourth day: both are 06:00 a day
	// earlier (the nearest step).
	at := start.Add(78 * time.Hour)
	pr, err := p.Predict(&abi.PredictRequest{Model: tr.Model, Timestamps: []int64{at.UnixMilli(), at.Add(20 * time.Minute).UnixMilli()}})
	if err != nil {
		panic(err)
	}
	fmt.Println(pr.Yhat, pr.Lower, pr.Upper)
	// Output:
	// [6 6] [6 6] [6 6]
}
