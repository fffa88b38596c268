package controller

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/host/trainer"
)

// testModel is a valid Model with the defaults the CRD applies.
func testModel() *ppav1.Model {
	return &ppav1.Model{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"},
		Spec: ppav1.ModelSpec{
			Source: ppav1.SourceSpec{Prometheus: ppav1.PrometheusSource{
				URL:     "http://prometheus.monitoring:9090",
				Query:   `sum(rate(http_requests_total{job="checkout"}[5m]))`,
				History: "14d",
				Step:    "1m",
			}},
			Forecaster: ppav1.ForecasterRef{Name: "prophet"},
			Training:   ppav1.TrainingSpec{Schedule: ppav1.DefaultSchedule},
			Serving:    ppav1.ServingSpec{Runtime: ppav1.DefaultRuntime, MinReplicas: 1},
			Store:      &ppav1.StoreSpec{URI: "s3://models/ppa"},
		},
	}
}

func TestTrainerArgs(t *testing.T) {
	base := []string{
		"--prometheus", "http://prometheus.monitoring:9090",
		"--query", `sum(rate(http_requests_total{job="checkout"}[5m]))`,
		"--history", "14d", "--step", "1m",
	}
	tail := []string{"--lead", "5m", "--created-by", "ppa-controller/{{workflow.name}}", "--result-file", "/tmp/result.json"}
	store := []string{"--store", "s3://models/ppa", "--model", "shop/checkout"}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	sel := func(name, key string) *corev1.SecretKeySelector {
		return &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
	}
	tests := []struct {
		name   string
		edit   func(m *ppav1.Model)
		plugin string
		want   []string
	}{
		{
			name:   "minimal",
			plugin: "prophet",
			want:   cat(base, store, []string{"--plugin", "prophet"}, tail),
		},
		{
			name: "defaults when history and step are empty",
			edit: func(m *ppav1.Model) {
				m.Spec.Source.Prometheus.History = ""
				m.Spec.Source.Prometheus.Step = ""
			},
			plugin: "prophet",
			want:   cat(base, store, []string{"--plugin", "prophet"}, tail),
		},
		{
			name: "everything",
			edit: func(m *ppav1.Model) {
				p := &m.Spec.Source.Prometheus
				p.Aggregate = "sum"
				p.History, p.Step = "7d", "30s"
				p.Auth = &ppav1.PrometheusAuth{
					BasicAuth:          &ppav1.BasicAuth{Username: *sel("prom", "user"), Password: *sel("prom", "pass")},
					CA:                 sel("prom-ca", "ca.crt"),
					InsecureSkipVerify: true,
				}
				m.Spec.Parameters = map[string]string{"seasonality_mode": "multiplicative", "changepoint_prior_scale": "0.1", "a": "x=y"}
				m.Spec.Training.HoldOut = "1d"
				m.Spec.Training.Gate = &ppav1.GateSpec{MaxMASE: "1.5", MaxSMAPE: "0.3"}
				m.Spec.Scaling = ppav1.ScalingSpec{Lead: "90s", TargetValue: "120", TargetUtilization: "0.75"}
			},
			plugin: "prophet@1.2.0",
			want: cat([]string{
				"--prometheus", "http://prometheus.monitoring:9090",
				"--query", `sum(rate(http_requests_total{job="checkout"}[5m]))`,
				"--history", "7d", "--step", "30s",
				"--aggregate", "sum",
				"--prometheus-user", "$(PPA_PROMETHEUS_USER)",
				"--prometheus-password-file", "/var/run/secrets/ppa/prometheus/password/value",
				"--prometheus-ca-file", "/var/run/secrets/ppa/prometheus/ca/value",
				"--prometheus-insecure-skip-verify",
			}, store, []string{
				"--plugin", "prophet@1.2.0",
				"--param", "a=x=y",
				"--param", "changepoint_prior_scale=0.1",
				"--param", "seasonality_mode=multiplicative",
				"--holdout", "1d",
				"--max-mase", "1.5", "--max-smape", "0.3",
				"--lead", "90s", "--target-value", "120", "--target-utilization", "0.75",
			}, tail[2:]),
		},
		{
			// Without a forecaster the trainer's policy search chooses.
			name:   "learned forecaster",
			edit:   func(m *ppav1.Model) { m.Spec.Forecaster = ppav1.ForecasterRef{} },
			plugin: "",
			want:   cat(base, store, tail),
		},
		{
			name: "bearer token",
			edit: func(m *ppav1.Model) {
				m.Spec.Source.Prometheus.Auth = &ppav1.PrometheusAuth{BearerToken: sel("prom", "token")}
			},
			plugin: "seasonal-naive",
			want: cat(base, []string{"--prometheus-bearer-token-file", "/var/run/secrets/ppa/prometheus/bearer-token/value"},
				store, []string{"--plugin", "seasonal-naive"}, tail),
		},
		{
			name: "one gate limit",
			edit: func(m *ppav1.Model) {
				m.Spec.Training.Gate = &ppav1.GateSpec{MaxSMAPE: "0.25"}
			},
			plugin: "prophet",
			want:   cat(base, store, []string{"--plugin", "prophet", "--max-smape", "0.25"}, tail),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testModel()
			if tc.edit != nil {
				tc.edit(m)
			}
			got := TrainerArgs(m, tc.plugin, m.Spec.Store.URI)
			if !slices.Equal(got, tc.want) {
				t.Errorf("TrainerArgs:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestTrainerSecrets(t *testing.T) {
	m := testModel()
	opt := true
	m.Spec.Source.Prometheus.Auth = &ppav1.PrometheusAuth{
		BearerToken: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "tok"}, Key: "t", Optional: &opt},
		CA:          &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "ca"}, Key: "ca.crt"},
	}
	vols, mounts, env, envFrom := trainerSecrets(m, "s3-creds")
	if len(vols) != 2 || len(mounts) != 2 {
		t.Fatalf("got %d volumes and %d mounts, want 2 and 2", len(vols), len(mounts))
	}
	// Every file an argument names is mounted from the right Secret key.
	args := strings.Join(TrainerArgs(m, "prophet", "s3://b/p"), " ")
	for i, v := range vols {
		s := v.Secret
		if s == nil || len(s.Items) != 1 {
			t.Fatalf("volume %s: want a secret volume with one item, got %+v", v.Name, v.VolumeSource)
		}
		if mounts[i].Name != v.Name || !mounts[i].ReadOnly {
			t.Errorf("mount %d: %+v does not mount volume %s read-only", i, mounts[i], v.Name)
		}
		file := mounts[i].MountPath + "/" + s.Items[0].Path
		if !strings.Contains(args, file) {
			t.Errorf("volume %s mounts %s, which no argument names: %s", v.Name, file, args)
		}
	}
	if vols[0].Secret.SecretName != "tok" || vols[0].Secret.Items[0].Key != "t" || vols[0].Secret.Optional == nil || !*vols[0].Secret.Optional {
		t.Errorf("bearer token volume: %+v", vols[0].Secret)
	}
	if vols[1].Secret.SecretName != "ca" || vols[1].Secret.Items[0].Key != "ca.crt" {
		t.Errorf("ca volume: %+v", vols[1].Secret)
	}
	if len(env) != 0 {
		t.Errorf("env: %+v, want none without basic auth", env)
	}
	if len(envFrom) != 1 || envFrom[0].SecretRef == nil || envFrom[0].SecretRef.Name != "s3-creds" {
		t.Errorf("envFrom: %+v, want the store secret", envFrom)
	}
	if _, _, _, none := trainerSecrets(testModel(), ""); none != nil {
		t.Errorf("envFrom without a store secret: %+v", none)
	}
}

func TestInitialWorkflowName(t *testing.T) {
	m := testModel()
	a := TrainerArgs(m, "prophet", "s3://models/ppa")
	name := InitialWorkflowName(m, a)
	if !strings.HasPrefix(name, "checkout-train-") || len(name) != len("checkout-train-")+10 {
		t.Fatalf("name %q: want checkout-train- and 10 hex digits", name)
	}
	if again := InitialWorkflowName(m, TrainerArgs(m, "prophet", "s3://models/ppa")); again != name {
		t.Errorf("same inputs, different names: %q, %q", name, again)
	}
	if other := InitialWorkflowName(m, TrainerArgs(m, "prophet@1.0.0", "s3://models/ppa")); other == name {
		t.Errorf("another plugin gives the same name %q", name)
	}
	// Joining must not make different argument lists collide.
	if InitialWorkflowName(m, []string{"a b", "c"}) == InitialWorkflowName(m, []string{"a", "b c"}) {
		t.Error("argument boundaries are not part of the hash")
	}
}

// TestTrainerArgsParse parses the controller's arguments with the
// trainer's own flag set: every flag the controller writes exists, and the
// scaling settings arrive.
func TestTrainerArgsParse(t *testing.T) {
	m := testModel()
	m.Spec.Scaling = ppav1.ScalingSpec{Lead: "90s", TargetValue: "120", TargetUtilization: "0.75"}
	for _, plugin := range []string{"prophet", ""} {
		var f trainer.Flags
		fs := pflag.NewFlagSet("ppa-trainer", pflag.ContinueOnError)
		f.Register(fs, "test")
		if err := fs.Parse(TrainerArgs(m, plugin, "s3://models/ppa")); err != nil {
			t.Fatalf("plugin %q: the trainer rejects the controller's arguments: %v", plugin, err)
		}
		o, err := f.Options(time.Now)
		if err != nil {
			t.Fatalf("plugin %q: %v", plugin, err)
		}
		if o.Plugin != plugin || o.Scaling.Lead != 90*time.Second || o.Scaling.TargetValue != 120 || o.Scaling.TargetUtilization != 0.75 {
			t.Errorf("plugin %q: options plugin %q scaling %+v", plugin, o.Plugin, o.Scaling)
		}
	}
}

// The controller's trainer arguments, pin included, are flags ppa-trainer
// accepts and turn into the pinned plugin (host/trainer.Flags is the one
// definition of them).
func TestTrainerArgsParseAsTrainerFlags(t *testing.T) {
	m := testModel()
	sha := strings.Repeat("ab", 32)
	args := append(TrainerArgs(m, "resplug@1.2.0", "s3://models/ppa"), TrainerPluginPinArgs(sha, "s3://models/ppa/plugins/resplug/1.2.0/plugin.wasm")...)
	fs := pflag.NewFlagSet("ppa-trainer", pflag.ContinueOnError)
	var f trainer.Flags
	f.Register(fs, "ppa-trainer")
	if err := fs.Parse(args); err != nil {
		t.Fatalf("ppa-trainer rejects the controller's arguments: %v\n%q", err, args)
	}
	if f.Pin.SHA256 != sha || f.Pin.URI == "" || f.Plugin != "resplug@1.2.0" {
		t.Errorf("parsed plugin %q pin %+v", f.Plugin, f.Pin)
	}
	if _, err := f.Options(time.Now); err != nil {
		t.Errorf("options: %v", err)
	}
	if got := TrainerPluginPinArgs("", ""); len(got) != 0 {
		t.Errorf("a built-in plugin gets pin arguments %q", got)
	}
}
