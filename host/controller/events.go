package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// EventSource is the component name on the Events the controller emits.
const EventSource = "ppa-controller"

// warningReasons are the condition reasons that need someone's attention:
// their transitions are Warning Events, all others Normal.
var warningReasons = map[string]bool{
	ppav1.ReasonTrainingFailed:         true,
	ppav1.ReasonGateRejected:           true,
	ppav1.ReasonReconcileError:         true,
	ppav1.ReasonForecasterNotFound:     true,
	ppav1.ReasonForecasterIncompatible: true,
	ppav1.ReasonNoStore:                true,
	ppav1.ReasonModelNotServed:         true,
	ppav1.ReasonABIUnsupported:         true,
}

// modelConditions are the Model's conditions, in the order their Events
// are emitted.
var modelConditions = []string{ppav1.ConditionTrained, ppav1.ConditionServing, ppav1.ConditionReady}

// emitTransitions records an Event on obj for every condition of the given
// types whose status or reason differs between before and after (a
// condition that appears is a transition too). The Event's reason is the
// condition's new reason.
func emitTransitions(rec record.EventRecorder, obj runtime.Object, before, after []metav1.Condition, types ...string) {
	if rec == nil {
		return
	}
	for _, t := range types {
		c := meta.FindStatusCondition(after, t)
		if c == nil {
			continue
		}
		if old := meta.FindStatusCondition(before, t); old != nil && old.Status == c.Status && old.Reason == c.Reason {
			continue
		}
		kind := "Normal"
		if warningReasons[c.Reason] {
			kind = "Warning"
		}
		msg := t + "=" + string(c.Status)
		if c.Message != "" {
			msg += ": " + c.Message
		}
		rec.Event(obj, kind, c.Reason, msg)
	}
}
