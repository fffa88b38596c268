package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// TestResolve covers the store and forecaster choices of a Model without
// an API server (see TestForecasterResolution for the same against one).
func TestResolve(t *testing.T) {
	scheme, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		newForecaster("own", "1.0.0", "1.0.0"),
		newForecaster("own", "1.0.0-rc.1", "1.0.0"),
		newForecaster("future", "3.0.0", "2.1.0"),
	).Build()
	tests := []struct {
		name         string
		defaultStore string
		defaultCreds string
		edit         func(m *ppav1.Model)
		wantStore    string
		wantSecret   string
		wantPlugin   string
		wantReason   string // of an errUnresolved
		wantMessage  string
	}{
		{
			name: "model's store and built-in", wantStore: "s3://models/ppa", wantPlugin: "prophet",
		},
		{
			name: "model's store with credentials",
			edit: func(m *ppav1.Model) {
				m.Spec.Store.CredentialsSecret = &corev1.LocalObjectReference{Name: "creds"}
			},
			wantStore: "s3://models/ppa", wantSecret: "creds", wantPlugin: "prophet",
		},
		{
			name: "controller's default store", defaultStore: "s3://shared/ppa", defaultCreds: "shared-creds",
			edit:      func(m *ppav1.Model) { m.Spec.Store = nil },
			wantStore: "s3://shared/ppa", wantSecret: "shared-creds", wantPlugin: "prophet",
		},
		{
			name: "model's store wins over the default", defaultStore: "s3://shared/ppa", defaultCreds: "shared-creds",
			wantStore: "s3://models/ppa", wantPlugin: "prophet",
		},
		{
			name:       "no store",
			edit:       func(m *ppav1.Model) { m.Spec.Store = nil },
			wantReason: ppav1.ReasonNoStore, wantMessage: "spec.store is not set and the controller has no --default-store-uri",
		},
		{
			name:      "release newer than its pre-release",
			edit:      func(m *ppav1.Model) { m.Spec.Forecaster = ppav1.ForecasterRef{Name: "own"} },
			wantStore: "s3://models/ppa", wantPlugin: "own@1.0.0",
		},
		{
			name:      "registered and pinned",
			edit:      func(m *ppav1.Model) { m.Spec.Forecaster = ppav1.ForecasterRef{Name: "own", Version: "1.0.0-rc.1"} },
			wantStore: "s3://models/ppa", wantPlugin: "own@1.0.0-rc.1",
		},
		{
			name:        "only an incompatible version",
			edit:        func(m *ppav1.Model) { m.Spec.Forecaster = ppav1.ForecasterRef{Name: "future"} },
			wantReason:  ppav1.ReasonForecasterIncompatible,
			wantMessage: "forecaster future-3.0.0: plugin ABI version 2.1.0 is not supported",
		},
		{
			name:        "unknown",
			edit:        func(m *ppav1.Model) { m.Spec.Forecaster = ppav1.ForecasterRef{Name: "arima", Version: "1.0.0"} },
			wantReason:  ppav1.ReasonForecasterNotFound,
			wantMessage: `forecaster "arima": no Forecaster arima-1.0.0 is registered and it is not a built-in plugin (built in: ` + strings.Join(builtin.Names(), ", ") + `)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			o.DefaultStoreURI, o.DefaultStoreCredentialsSecret = tc.defaultStore, tc.defaultCreds
			r := &ModelReconciler{Client: cl, Scheme: scheme, Options: o}
			m := testModel()
			if tc.edit != nil {
				tc.edit(m)
			}
			st := &ppav1.ModelStatus{}
			got, err := r.resolve(context.Background(), m, st)
			if tc.wantReason != "" {
				var u *errUnresolved
				if !errors.As(err, &u) || u.reason != tc.wantReason || !strings.HasPrefix(u.message, tc.wantMessage) {
					t.Fatalf("resolve: %v, want %s: %s", err, tc.wantReason, tc.wantMessage)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if got.storeURI != tc.wantStore || got.storeSecret != tc.wantSecret || got.plugin != tc.wantPlugin {
				t.Errorf("got store %q secret %q plugin %q, want %q %q %q", got.storeURI, got.storeSecret, got.plugin, tc.wantStore, tc.wantSecret, tc.wantPlugin)
			}
			if st.Forecaster == nil || st.Forecaster.Plugin != tc.wantPlugin {
				t.Errorf("status forecaster %+v, want plugin %s", st.Forecaster, tc.wantPlugin)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no image", func(o *Options) { o.TrainerImage = "" }, "trainer image: empty"},
		{"no command", func(o *Options) { o.TrainerCommand = "" }, "trainer command: empty"},
		{"port", func(o *Options) { o.GRPCPort = 0 }, "grpc port 0: want 1..65535"},
		{"credentials without store", func(o *Options) { o.DefaultStoreCredentialsSecret = "x" },
			"default store credentials secret: set without a default store URI"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			tc.edit(&o)
			err := o.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || err.Error() != tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
