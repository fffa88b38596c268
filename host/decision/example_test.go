package decision_test

import (
	"fmt"
	"time"

	"github.com/ppa-autoscaler/ppa/host/decision"
)

// The scaler's decision: the largest upper bound over the next 5 minutes,
// with the current value as a floor; then the replicas the HPA sets for it.
func ExampleOptions_Decide() {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	var ts []int64
	for i := range 7 {
		ts = append(ts, now.Add(time.Duration(i)*time.Minute).UnixMilli())
	}
	fc, err := decision.NewForecast(now.Add(-time.Minute), ts,
		[]float64{40, 44, 52, 61, 58, 55, 90}, // yhat; the 90 is 6 minutes ahead, past the horizon
		[]float64{35, 39, 46, 54, 51, 49, 80},
		[]float64{45, 49, 58, 68, 65, 61, 100})
	if err != nil {
		panic(err)
	}
	opts := decision.Options{Aggregation: decision.AggMax, Bound: decision.BoundUpper, Horizon: 5 * time.Minute, ReactiveFloor: true, MaxForecastAge: time.Hour}
	d, err := opts.Decide(decision.Input{Now: now, Forecast: fc, Current: 47, HasCurrent: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Explain(opts))

	hpa := decision.HPA{TargetValue: 8, MinReplicas: 1, MaxReplicas: 20, Tolerance: decision.DefaultTolerance}
	fmt.Println("replicas from 6:", hpa.Desired(d.Value, 6))
	// Output:
	// forecast 68 (max of upper over 6 points), current 47
	// replicas from 6: 9
}
