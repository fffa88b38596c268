package controller

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
)

// ResultFile is where the trainer writes its JSON result (--result-file);
// the training workflows export it as the output parameter OutputResult.
const ResultFile = "/tmp/result.json"

// Paths of the Prometheus credentials mounted into training pods, each a
// file holding one Secret key.
const (
	secretsDir          = "/var/run/secrets/ppa/prometheus"
	bearerTokenFile     = secretsDir + "/bearer-token/value"
	passwordFile        = secretsDir + "/password/value"
	caFile              = secretsDir + "/ca/value"
	prometheusUserEnv   = "PPA_PROMETHEUS_USER"
	volumeBearerToken   = "prometheus-bearer-token"
	volumePassword      = "prometheus-password"
	volumeCA            = "prometheus-ca"
	secretFileName      = "value"
	secretFileMode      = int32(0o400)
	trainerCreatedByArg = "ppa-controller/{{workflow.name}}"
)

// TrainerArgs is the command line of one training of m, after the
// executable: the flags of ppa-trainer (host/trainer.Flags), with plugin
// the resolved --plugin (NAME or NAME@VERSION) and storeURI the store.
// It is the one place that knows the trainer's flags. An empty plugin
// leaves --plugin out: the trainer's policy search then chooses.
//
// Parameters are passed sorted by key, so that the same Model always
// renders the same arguments. Credentials are not arguments: the files and
// variable the arguments name come from trainerSecrets.
//
// # Notes
//
// Argo expands {{workflow.name}} in --created-by; Kubernetes expands
// $(PPA_PROMETHEUS_USER) from the Secret-backed variable.
func TrainerArgs(m *ppav1.Model, plugin, storeURI string) []string {
	src := m.Spec.Source.Prometheus
	args := []string{
		"--prometheus", src.URL,
		"--query", src.Query,
		"--history", orDefault(src.History, ppav1.DefaultHistory),
		"--step", orDefault(src.Step, ppav1.DefaultStep),
	}
	if src.Aggregate != "" {
		args = append(args, "--aggregate", src.Aggregate)
	}
	if a := src.Auth; a != nil {
		if a.BearerToken != nil {
			args = append(args, "--prometheus-bearer-token-file", bearerTokenFile)
		}
		if a.BasicAuth != nil {
			args = append(args, "--prometheus-user", "$("+prometheusUserEnv+")", "--prometheus-password-file", passwordFile)
		}
		if a.CA != nil {
			args = append(args, "--prometheus-ca-file", caFile)
		}
		if a.InsecureSkipVerify {
			args = append(args, "--prometheus-insecure-skip-verify")
		}
	}
	args = append(args,
		"--store", storeURI,
		"--model", m.Namespace+"/"+m.Name,
	)
	if plugin != "" {
		args = append(args, "--plugin", plugin)
	}
	keys := make([]string, 0, len(m.Spec.Parameters))
	for k := range m.Spec.Parameters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--param", k+"="+m.Spec.Parameters[k])
	}
	t := m.Spec.Training
	if t.HoldOut != "" {
		args = append(args, "--holdout", t.HoldOut)
	}
	if g := t.Gate; g != nil {
		if g.MaxMASE != "" {
			args = append(args, "--max-mase", g.MaxMASE)
		}
		if g.MaxSMAPE != "" {
			args = append(args, "--max-smape", g.MaxSMAPE)
		}
	}
	sc := m.Spec.Scaling
	args = append(args, "--lead", orDefault(sc.Lead, ppav1.DefaultLead))
	if sc.TargetValue != "" {
		args = append(args, "--target-value", sc.TargetValue)
	}
	if sc.TargetUtilization != "" {
		args = append(args, "--target-utilization", sc.TargetUtilization)
	}
	return append(args,
		"--created-by", trainerCreatedByArg,
		"--result-file", ResultFile,
	)
}

// TrainerPluginPinArgs are the trainer flags that pin a registered
// Forecaster's artifact: its sha256, which every load checks, and its URI,
// fetched into the store when the store lacks the plugin version. None for
// a built-in plugin (both empty).
func TrainerPluginPinArgs(sha256, uri string) []string {
	var args []string
	if sha256 != "" {
		args = append(args, "--plugin-sha256", sha256)
	}
	if uri != "" {
		args = append(args, "--plugin-uri", uri)
	}
	return args
}

// trainerSecrets returns what a training pod needs for the credentials
// that TrainerArgs refers to: Secret volumes and their mounts for the
// Prometheus files, the user-name variable, and the store's credentials
// Secret as environment.
func trainerSecrets(m *ppav1.Model, storeSecret string) (vols []corev1.Volume, mounts []corev1.VolumeMount, env []corev1.EnvVar, envFrom []corev1.EnvFromSource) {
	addFile := func(volume, dir string, sel *corev1.SecretKeySelector) {
		mode := secretFileMode
		vols = append(vols, corev1.Volume{
			Name: volume,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName:  sel.Name,
				Items:       []corev1.KeyToPath{{Key: sel.Key, Path: secretFileName}},
				DefaultMode: &mode,
				Optional:    sel.Optional,
			}},
		})
		mounts = append(mounts, corev1.VolumeMount{Name: volume, MountPath: dir, ReadOnly: true})
	}
	if a := m.Spec.Source.Prometheus.Auth; a != nil {
		if a.BearerToken != nil {
			addFile(volumeBearerToken, secretsDir+"/bearer-token", a.BearerToken)
		}
		if b := a.BasicAuth; b != nil {
			addFile(volumePassword, secretsDir+"/password", &b.Password)
			user := b.Username
			env = append(env, corev1.EnvVar{
				Name:      prometheusUserEnv,
				ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &user},
			})
		}
		if a.CA != nil {
			addFile(volumeCA, secretsDir+"/ca", a.CA)
		}
	}
	envFrom = storeEnv(storeSecret)
	return vols, mounts, env, envFrom
}

// storeEnv makes the store's credentials Secret, when there is one, the
// environment of a container.
func storeEnv(secret string) []corev1.EnvFromSource {
	if secret == "" {
		return nil
	}
	return []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret},
	}}}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
