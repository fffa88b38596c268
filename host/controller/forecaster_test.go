package controller

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func newForecaster(name, version, abiVersion string) *ppav1.Forecaster {
	return &ppav1.Forecaster{
		ObjectMeta: metav1.ObjectMeta{Name: ppav1.ForecasterName(name, version)},
		Spec: ppav1.ForecasterSpec{
			Name: name, Version: version, ABIVersion: abiVersion, SHA256: digest,
			URI: "s3://models/ppa/plugins/" + name + "/" + version + "/plugin.wasm",
		},
	}
}

// createForecaster registers f for the test: Forecasters are cluster-scoped,
// so each test deletes its own.
func createForecaster(t *testing.T, c client.Client, f *ppav1.Forecaster) {
	t.Helper()
	if err := c.Create(context.Background(), f); err != nil {
		t.Fatalf("create forecaster %s: %v", f.Name, err)
	}
	t.Cleanup(func() {
		if err := c.Delete(context.Background(), f); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete forecaster %s: %v", f.Name, err)
		}
	})
}

func waitForecaster(t *testing.T, name string, status metav1.ConditionStatus, reason string) *ppav1.Forecaster {
	t.Helper()
	c := startEnv(t)
	var f ppav1.Forecaster
	waitFor(t, "forecaster "+name+" "+reason, func() (bool, string) {
		if err := c.Get(context.Background(), types.NamespacedName{Name: name}, &f); err != nil {
			return false, err.Error()
		}
		cond := meta.FindStatusCondition(f.Status.Conditions, ppav1.ConditionReady)
		if cond == nil {
			return false, "no Ready condition"
		}
		return cond.Status == status && cond.Reason == reason, cond.Reason + ": " + cond.Message
	})
	return &f
}

// TestForecasterValidation checks the Forecaster CRD's rules.
func TestForecasterValidation(t *testing.T) {
	c := startEnv(t)
	ctx := context.Background()
	tests := []struct {
		name string
		f    *ppav1.Forecaster
		want []string
	}{
		{"name is not NAME-VERSION", func() *ppav1.Forecaster {
			f := newForecaster("valplug", "1.0.0", "1.0.0")
			f.Name = "valplug-latest"
			return f
		}(), []string{"metadata.name must be spec.name-spec.version"}},
		{"digest not hex", func() *ppav1.Forecaster {
			f := newForecaster("valplug", "1.0.1", "1.0.0")
			f.Spec.SHA256 = strings.ToUpper(digest)
			return f
		}(), []string{"spec.sha256", "should match '^[a-f0-9]{64}$'"}},
		{"digest too short", func() *ppav1.Forecaster {
			f := newForecaster("valplug", "1.0.2", "1.0.0")
			f.Spec.SHA256 = digest[:63]
			return f
		}(), []string{"spec.sha256"}},
		{"abi version not semantic", newForecaster("valplug", "1.0.3", "1"), []string{"spec.abiVersion", "should match"}},
		{"uri without scheme", func() *ppav1.Forecaster {
			f := newForecaster("valplug", "1.0.4", "1.0.0")
			f.Spec.URI = "plugins/valplug.wasm"
			return f
		}(), []string{"spec.uri", "should match"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(ctx, tc.f)
			if err == nil {
				_ = c.Delete(ctx, tc.f)
				t.Fatalf("created an invalid forecaster; want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	t.Run("spec is immutable", func(t *testing.T) {
		f := newForecaster("immplug", "1.0.0", "1.0.0")
		createForecaster(t, c, f)
		// Retried on conflicts with the controller's status writes.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(f), f); err != nil {
				return err
			}
			f.Spec.URI = "s3://elsewhere/plugin.wasm"
			return c.Update(ctx, f)
		})
		if err == nil || !strings.Contains(err.Error(), "spec is immutable: register a new version instead") {
			t.Fatalf("update of the spec: %v, want it refused as immutable", err)
		}
	})
}

// TestForecasterResolution checks how Models find their plugin among
// registered Forecasters and built-ins, and that a Forecaster appearing
// later unblocks a Model.
func TestForecasterResolution(t *testing.T) {
	c := startEnv(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	for _, f := range []*ppav1.Forecaster{
		newForecaster("resplug", "1.2.0", "1.0.0"),
		newForecaster("resplug", "1.10.0", "1.0.0"),
		newForecaster("resplug", "2.0.0", "2.0.0"), // newest, but not runnable here
	} {
		createForecaster(t, c, f)
	}
	waitForecaster(t, "resplug-1.10.0", metav1.ConditionTrue, ppav1.ReasonABISupported)
	waitForecaster(t, "resplug-2.0.0", metav1.ConditionFalse, ppav1.ReasonABIUnsupported)

	tests := []struct {
		model      string
		ref        ppav1.ForecasterRef
		wantReason string // of Ready while not trained
		wantPlugin string // resolved --plugin, "" when unresolved
		wantName   string // registered Forecaster
	}{
		{"newest-runnable", ppav1.ForecasterRef{Name: "resplug"}, ppav1.ReasonNotTrained, "resplug@1.10.0", "resplug-1.10.0"},
		{"pinned", ppav1.ForecasterRef{Name: "resplug", Version: "1.2.0"}, ppav1.ReasonNotTrained, "resplug@1.2.0", "resplug-1.2.0"},
		{"incompatible", ppav1.ForecasterRef{Name: "resplug", Version: "2.0.0"}, ppav1.ReasonForecasterIncompatible, "", ""},
		{"builtin-pinned", ppav1.ForecasterRef{Name: "seasonal-naive", Version: "0.1.0"}, ppav1.ReasonNotTrained, "seasonal-naive@0.1.0", ""},
		{"missing-version", ppav1.ForecasterRef{Name: "resplug", Version: "9.9.9"}, ppav1.ReasonForecasterNotFound, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			m := newModel(ns, tc.model)
			m.Spec.Forecaster = tc.ref
			if err := c.Create(ctx, m); err != nil {
				t.Fatalf("create model: %v", err)
			}
			m = waitModel(t, c, ns, tc.model, "Ready reason "+tc.wantReason, func(m *ppav1.Model) bool {
				return hasCondition(m, ppav1.ConditionReady, metav1.ConditionFalse, tc.wantReason)
			})
			wfs := initialWorkflows(t, c, ns, tc.model)
			if tc.wantPlugin == "" {
				if len(wfs) != 0 || m.Status.Forecaster != nil {
					t.Errorf("%d workflows and resolved forecaster %+v for an unresolved forecaster", len(wfs), m.Status.Forecaster)
				}
				return
			}
			r := m.Status.Forecaster
			if r == nil || r.Plugin != tc.wantPlugin || r.Forecaster != tc.wantName || (tc.wantName != "") != (r.SHA256 == digest) {
				t.Errorf("resolved %+v, want plugin %s from %q", r, tc.wantPlugin, tc.wantName)
			}
			if len(wfs) != 1 {
				t.Fatalf("%d workflows, want 1", len(wfs))
			}
			// A registered Forecaster's digest and artifact reach the
			// trainer, which checks the one and fetches the other.
			var pin []string
			if tc.wantName != "" {
				name, version, _ := strings.Cut(tc.wantPlugin, "@")
				uri := newForecaster(name, version, "").Spec.URI
				pin = []string{"--plugin-sha256", digest, "--plugin-uri", uri}
				if r.URI != uri {
					t.Errorf("resolved uri %q, want %q", r.URI, uri)
				}
			}
			checkTrainerTemplate(t, &wfs[0].Spec, m, tc.wantPlugin, pin...)
		})
	}

	t.Run("registered later", func(t *testing.T) {
		m := newModel(ns, "later")
		m.Spec.Forecaster = ppav1.ForecasterRef{Name: "laterplug"}
		if err := c.Create(ctx, m); err != nil {
			t.Fatalf("create model: %v", err)
		}
		m = waitModel(t, c, ns, "later", "ForecasterNotFound", func(m *ppav1.Model) bool {
			return hasCondition(m, ppav1.ConditionReady, metav1.ConditionFalse, ppav1.ReasonForecasterNotFound)
		})
		msg := meta.FindStatusCondition(m.Status.Conditions, ppav1.ConditionReady).Message
		if !strings.Contains(msg, `forecaster "laterplug"`) || !strings.Contains(msg, "built in: "+strings.Join(builtin.Names(), ", ")) {
			t.Errorf("message %q does not name the forecaster and the built-ins", msg)
		}
		createForecaster(t, c, newForecaster("laterplug", "0.1.0", "1.0.0"))
		m = waitModel(t, c, ns, "later", "resolved once registered", func(m *ppav1.Model) bool {
			return hasCondition(m, ppav1.ConditionReady, metav1.ConditionFalse, ppav1.ReasonNotTrained)
		})
		if m.Status.Forecaster == nil || m.Status.Forecaster.Plugin != "laterplug@0.1.0" {
			t.Errorf("resolved %+v, want laterplug@0.1.0", m.Status.Forecaster)
		}
		if n := len(initialWorkflows(t, c, ns, "later")); n != 1 {
			t.Errorf("%d workflows once the forecaster is registered, want 1", n)
		}
	})
}
