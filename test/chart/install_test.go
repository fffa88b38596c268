package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// TestInstallUpgradeUninstall runs helm install, upgrade and uninstall of
// the chart against a real kube-apiserver (envtest's, with the KServe, Argo
// and KEDA CRDs of testdata/crds that the chart and its examples use):
//
//   - install from a copy of the chart whose Model CRD lacks a field (an
//     older chart version);
//   - the chart README's example Model and ScaledObject are applied as
//     they are and accepted;
//   - upgrade to the chart as it is: the CRD gains the field (the CRDs are
//     templates, which Helm upgrades);
//   - uninstall: the release's objects go, the CRDs and the Model stay
//     (helm.sh/resource-policy: keep).
func TestInstallUpgradeUninstall(t *testing.T) {
	cfg, kubeconfig := testenv.StartEnvtest(t, &envtest.Environment{
		CRDDirectoryPaths: []string{filepath.Join("testdata", "crds")},
	}, "helm")
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	helm := func(args ...string) string {
		t.Helper()
		out, err := runHelmEnv(t, []string{"KUBECONFIG=" + kubeconfig}, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// The previous chart: its Model CRD has no status.forecaster.uri.
	old := olderChart(t)
	helm("install", release, old, "--namespace", namespace, "--create-namespace")
	crd := getCRD(t, c, "models.ppa-autoscaler.io")
	if hasForecasterURI(crd) {
		t.Fatal("the older chart's Model CRD already has status.forecaster.uri")
	}
	var d appsv1.Deployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "ppa-controller"}, &d); err != nil {
		t.Fatalf("controller Deployment after install: %v", err)
	}

	// The README's examples, as they are.
	applyExample(t, c, "model")
	applyExample(t, c, "scaledobject")

	helm("upgrade", release, chartDir(t), "--namespace", namespace, "--set", "controller.logLevel=debug")
	crd = getCRD(t, c, "models.ppa-autoscaler.io")
	if !hasForecasterURI(crd) {
		t.Error("helm upgrade left the Model CRD's old schema: no status.forecaster.uri")
	}
	if crd.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("Model CRD annotations %v", crd.Annotations)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "ppa-controller"}, &d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "--log-level=debug") {
		t.Errorf("upgrade did not reach the controller: args %v", d.Spec.Template.Spec.Containers[0].Args)
	}

	helm("uninstall", release, "--namespace", namespace)
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "ppa-controller"}, &d); !apierrors.IsNotFound(err) {
		t.Errorf("controller Deployment after uninstall: %v, want not found", err)
	}
	for _, name := range []string{"models.ppa-autoscaler.io", "forecasters.ppa-autoscaler.io"} {
		getCRD(t, c, name)
	}
	m := &unstructured.Unstructured{}
	m.SetAPIVersion("ppa-autoscaler.io/v1alpha1")
	m.SetKind("Model")
	if err := c.Get(ctx, types.NamespacedName{Namespace: "shop", Name: "web-rps"}, m); err != nil {
		t.Errorf("the example Model after uninstall: %v", err)
	}
}

// olderChart copies the chart to a temporary directory and removes
// status.forecaster.uri from its Model CRD: the chart before that field.
func olderChart(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "ppa")
	if out, err := exec.Command("cp", "-r", chartDir(t), dst).CombinedOutput(); err != nil {
		t.Fatalf("copy chart: %v: %s", err, out)
	}
	path := filepath.Join(dst, "files", "crds", "ppa-autoscaler.io_models.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	if !hasForecasterURI(&crd) {
		t.Fatal("files/crds: the Model CRD has no status.forecaster.uri to remove")
	}
	delete(forecasterStatus(&crd).Properties, "uri")
	out, err := yaml.Marshal(&crd)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func forecasterStatus(crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.JSONSchemaProps {
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if v.Name != "v1alpha1" || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		st, ok := v.Schema.OpenAPIV3Schema.Properties["status"]
		if !ok {
			return nil
		}
		f, ok := st.Properties["forecaster"]
		if !ok {
			return nil
		}
		// Write back through the maps: they hold values.
		st.Properties["forecaster"] = f
		v.Schema.OpenAPIV3Schema.Properties["status"] = st
		return &f
	}
	return nil
}

func hasForecasterURI(crd *apiextensionsv1.CustomResourceDefinition) bool {
	f := forecasterStatus(crd)
	if f == nil {
		return false
	}
	_, ok := f.Properties["uri"]
	return ok
}

func getCRD(t *testing.T, c client.Client, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	if err := c.Get(context.Background(), types.NamespacedName{Name: name}, &crd); err != nil {
		t.Fatalf("CRD %s: %v", name, err)
	}
	return &crd
}

// applyExample creates examples/NAME.yaml (and its namespace) as it is; the
// API server must accept it. A CRD the release just created may take a
// moment to be served, so creation is retried for a while.
func applyExample(t *testing.T, c client.Client, name string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir(t), "examples", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
		t.Fatalf("examples/%s.yaml: %v", name, err)
	}
	ctx := context.Background()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(obj.GetNamespace())
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Create(ctx, obj.DeepCopy())
		if err == nil {
			return
		}
		// Only "no such kind yet" is worth waiting for; a rejection is the
		// answer.
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "no matches for kind") {
			t.Fatalf("apply examples/%s.yaml: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runHelmEnv is runHelm with extra environment (e.g. KUBECONFIG).
func runHelmEnv(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmPath(t), args...)
	cmd.Dir = repoRoot(t)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}
