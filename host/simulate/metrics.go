package simulate

import "math"

// ArmMetrics score one arm over the scored steps: from the end of the
// warm-up (see the package comment) to the end of the trace, gap steps
// (unknown demand) excluded. With d the demand of a step, r its ready
// replicas, s its existing replicas (ready or starting) and C the capacity
// per replica:
type ArmMetrics struct {
	// UnderprovisionedMinutes counts the minutes with d > r×C. The target
	// utilisation does not enter this test: it is the autoscaler's
	// headroom, and a replica serving exactly its capacity is not short.
	UnderprovisionedMinutes float64 `json:"underprovisioned_minutes"`
	// UnservedDemandShare is Σ max(0, d − r×C) / Σ d: the share of the
	// demand that found no ready capacity. 0 when Σ d is 0.
	UnservedDemandShare float64 `json:"unserved_demand_share"`
	// ReplicaHours is Σ s × step, in hours: every replica that exists costs,
	// ready or still starting.
	ReplicaHours float64 `json:"replica_hours"`
	// OverprovisioningShare is Σ max(0, r×C − d) / Σ r×C: the share of the
	// ready capacity that was idle. 0 when there was no ready capacity.
	OverprovisioningShare float64 `json:"overprovisioning_share"`
	// ScaleEvents counts the steps where the number of replicas changed
	// (ScaleUps + ScaleDowns).
	ScaleEvents int `json:"scale_events"`
	// ScaleUps and ScaleDowns split ScaleEvents by direction.
	ScaleUps   int `json:"scale_ups"`
	ScaleDowns int `json:"scale_downs"`
	// MeanReplicas is the mean of s; PeakReplicas its largest value.
	MeanReplicas float64 `json:"mean_replicas"`
	PeakReplicas int     `json:"peak_replicas"`
}

// score computes an arm's metrics over steps [from, len(y)).
func score(y []float64, tr trajectory, from int, capacity, stepMinutes float64) ArmMetrics {
	var (
		m                           ArmMetrics
		under, n                    int
		demand, unserved, cap, idle float64
		replicaSteps                float64
	)
	for i := from; i < len(y); i++ {
		if i > 0 && tr.spec[i] != tr.spec[i-1] {
			if tr.spec[i] > tr.spec[i-1] {
				m.ScaleUps++
			} else {
				m.ScaleDowns++
			}
		}
		d := y[i]
		if math.IsNaN(d) {
			continue
		}
		n++
		c := float64(tr.ready[i]) * capacity
		if d > c {
			under++
			unserved += d - c
		} else {
			idle += c - d
		}
		demand += d
		cap += c
		replicaSteps += float64(tr.spec[i])
		m.PeakReplicas = max(m.PeakReplicas, int(tr.spec[i]))
	}
	m.ScaleEvents = m.ScaleUps + m.ScaleDowns
	m.UnderprovisionedMinutes = float64(under) * stepMinutes
	m.ReplicaHours = replicaSteps * stepMinutes / 60
	if demand > 0 {
		m.UnservedDemandShare = unserved / demand
	}
	if cap > 0 {
		m.OverprovisioningShare = idle / cap
	}
	if n > 0 {
		m.MeanReplicas = replicaSteps / float64(n)
	}
	return m
}
