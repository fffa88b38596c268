package controller

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// TestModelValidation checks that the CRD rejects invalid Models with a
// message naming the field, and fills in the defaults of a valid one.
func TestModelValidation(t *testing.T) {
	c := startEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	sel := func(name, key string) corev1.SecretKeySelector {
		return corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
	}
	tests := []struct {
		name string
		edit func(m *ppav1.Model)
		want []string // substrings of the API server's message
	}{
		{"url without scheme", func(m *ppav1.Model) { m.Spec.Source.Prometheus.URL = "prometheus:9090" },
			[]string{"spec.source.prometheus.url", `should match '^https?://`}},
		{"empty query", func(m *ppav1.Model) { m.Spec.Source.Prometheus.Query = "" },
			[]string{"spec.source.prometheus.query", "at least 1 chars long"}},
		{"history in words", func(m *ppav1.Model) { m.Spec.Source.Prometheus.History = "two weeks" },
			[]string{"spec.source.prometheus.history", "should match"}},
		{"unknown aggregation", func(m *ppav1.Model) { m.Spec.Source.Prometheus.Aggregate = "median" },
			[]string{"spec.source.prometheus.aggregate", `Unsupported value: "median"`, `"sum"`}},
		{"bearer token and basic auth", func(m *ppav1.Model) {
			tok := sel("prom", "token")
			m.Spec.Source.Prometheus.Auth = &ppav1.PrometheusAuth{BearerToken: &tok,
				BasicAuth: &ppav1.BasicAuth{Username: sel("prom", "user"), Password: sel("prom", "pass")}}
		}, []string{"spec.source.prometheus.auth", "bearerToken and basicAuth: give one, not both"}},
		{"forecaster name with capitals", func(m *ppav1.Model) { m.Spec.Forecaster.Name = "Prophet" },
			[]string{"spec.forecaster.name", "should match"}},
		{"forecaster version not semantic", func(m *ppav1.Model) { m.Spec.Forecaster.Version = "latest" },
			[]string{"spec.forecaster.version", "should match"}},
		{"schedule in words", func(m *ppav1.Model) { m.Spec.Training.Schedule = "every hour" },
			[]string{"spec.training.schedule", "schedule must have five fields"}},
		{"schedule with six fields", func(m *ppav1.Model) { m.Spec.Training.Schedule = "0 0 * * * *" },
			[]string{"spec.training.schedule", "schedule must have five fields"}},
		{"gate limit not a number", func(m *ppav1.Model) { m.Spec.Training.Gate = &ppav1.GateSpec{MaxMASE: "low"} },
			[]string{"spec.training.gate.maxMASE", "should match"}},
		{"negative replicas", func(m *ppav1.Model) { m.Spec.Serving.MinReplicas = -1 },
			[]string{"spec.serving.minReplicas", "should be greater than or equal to 1"}},
		{"max below min replicas", func(m *ppav1.Model) { m.Spec.Serving.MinReplicas = 3; m.Spec.Serving.MaxReplicas = ptr.To[int32](2) },
			[]string{"spec.serving", "maxReplicas must not be below minReplicas"}},
		{"store over http", func(m *ppav1.Model) { m.Spec.Store.URI = "http://minio:9000/models" },
			[]string{"spec.store.uri", "should match"}},
		{"name too long for the InferenceService", func(m *ppav1.Model) { m.Name = strings.Repeat("a", 41) },
			[]string{"metadata.name must be a DNS-1035 label of at most 40 characters"}},
		{"name starting with a digit", func(m *ppav1.Model) { m.Name = "1checkout" },
			[]string{"metadata.name must be a DNS-1035 label"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(ns, "invalid")
			tc.edit(m)
			err := c.Create(ctx, m)
			if err == nil {
				_ = c.Delete(ctx, m)
				t.Fatalf("created an invalid model; want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("defaults", func(t *testing.T) {
		m := newModel(ns, "defaults")
		m.Spec.Store = nil
		if err := c.Create(ctx, m); err != nil {
			t.Fatalf("create: %v", err)
		}
		got := getModel(t, c, ns, "defaults")
		p, tr, s := got.Spec.Source.Prometheus, got.Spec.Training, got.Spec.Serving
		if p.History != "14d" || p.Step != "1m" || tr.Schedule != "0 * * * *" || s.Runtime != "ppa-runtime" || s.MinReplicas != 1 {
			t.Errorf("defaults: history %q step %q schedule %q runtime %q minReplicas %d; want 14d 1m \"0 * * * *\" ppa-runtime 1",
				p.History, p.Step, tr.Schedule, s.Runtime, s.MinReplicas)
		}
		// Without a store (the test controller has no default store), the
		// Model is reported and nothing is created.
		waitModel(t, c, ns, "defaults", "NoStore reported", func(m *ppav1.Model) bool {
			return hasCondition(m, ppav1.ConditionReady, metav1.ConditionFalse, ppav1.ReasonNoStore)
		})
		if n := len(initialWorkflows(t, c, ns, "defaults")); n != 0 {
			t.Errorf("%d workflows for a model without a store", n)
		}
	})
}
