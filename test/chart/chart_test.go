package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1alpha1 "github.com/kserve/kserve/pkg/apis/serving/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/host/controller"
	pparuntime "github.com/ppa-autoscaler/ppa/host/runtime"
)

// chartMeta is what the tests read from Chart.yaml.
type chartMeta struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion"`
}

func readChartMeta(t testing.TB) chartMeta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir(t), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m chartMeta
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	return m
}

// fullValues is the values file that turns the options on.
const fullValues = "test/chart/testdata/values-full.yaml"

func TestLint(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"defaults", nil},
		{"full", []string{"-f", fullValues}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir(t), "--namespace", namespace}, tt.args...)
			out, err := runHelm(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint: unexpected output:\n%s", out)
			}
		})
	}
}

// want is an expected object: its id (with %s for the name prefix) and
// its component label.
type want struct{ id, component string }

func TestObjects(t *testing.T) {
	common := []want{
		{"ServiceAccount/ppa-system/%s-controller", "controller"},
		{"ClusterRole//%s-controller", "controller"},
		{"ClusterRoleBinding//%s-controller", "controller"},
		{"Role/ppa-system/%s-controller-leader-election", "controller"},
		{"RoleBinding/ppa-system/%s-controller-leader-election", "controller"},
		{"Deployment/ppa-system/%s-controller", "controller"},
		{"Service/ppa-system/%s-controller-metrics", "controller"},
		{"ServiceAccount/ppa-system/%s-scaler", "scaler"},
		{"Deployment/ppa-system/%s-scaler", "scaler"},
		{"Service/ppa-system/%s-scaler", "scaler"},
		{"ClusterServingRuntime//ppa-runtime", "runtime"},
		{"ServiceAccount/ppa-system/%s-workflow", "training"},
		{"Role/ppa-system/%s-workflow", "training"},
		{"RoleBinding/ppa-system/%s-workflow", "training"},
		{"ClusterWorkflowTemplate//ppa-train", "training"},
		{"CustomResourceDefinition//forecasters.ppa-autoscaler.io", "crds"},
		{"CustomResourceDefinition//models.ppa-autoscaler.io", "crds"},
	}
	full := append(slices.Clone(common),
		want{"Secret/ppa-system/%s-store", "store"},
		want{"ServiceMonitor/ppa-system/%s-controller", "controller"},
		want{"ServiceMonitor/ppa-system/%s-scaler", "scaler"},
		want{"ConfigMap/monitoring/%s-grafana-dashboard", "dashboard"},
		want{"ServiceAccount/shop/%s-workflow", "training"},
		want{"Role/shop/%s-workflow", "training"},
		want{"RoleBinding/shop/%s-workflow", "training"},
		want{"ResourceGraphDefinition//%s-kro-model", "kro"},
		want{"ClusterRole//%s-kro-model", "kro"},
	)
	meta := readChartMeta(t)
	for _, tt := range []struct {
		name     string
		args     []string
		prefix   string
		want     []want
		extraLbl map[string]string
	}{
		// Without a default runtime address the scaler watches Models.
		{"defaults", nil, "ppa", append(slices.Clone(common),
			want{"ClusterRole//%s-scaler", "scaler"}, want{"ClusterRoleBinding//%s-scaler", "scaler"}), nil},
		{"full", []string{"-f", fullValues}, "acme-ppa", full, map[string]string{"team": "platform"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.args...)
			wantComponent := map[string]string{}
			for _, w := range tt.want {
				wantComponent[strings.ReplaceAll(w.id, "%s", tt.prefix)] = w.component
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.id())
			}
			var wantIDs []string
			for id := range wantComponent {
				wantIDs = append(wantIDs, id)
			}
			sort.Strings(got)
			sort.Strings(wantIDs)
			if !slices.Equal(got, wantIDs) {
				t.Fatalf("rendered objects:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wantIDs, "\n  "))
			}
			for _, o := range objs {
				lbl := map[string]string{
					"app.kubernetes.io/name":       meta.Name,
					"app.kubernetes.io/instance":   release,
					"app.kubernetes.io/component":  wantComponent[o.id()],
					"app.kubernetes.io/managed-by": "Helm",
					"app.kubernetes.io/part-of":    "ppa",
					"app.kubernetes.io/version":    meta.AppVersion,
					"helm.sh/chart":                meta.Name + "-" + meta.Version,
				}
				for k, v := range tt.extraLbl {
					lbl[k] = v
				}
				for k, v := range lbl {
					if got := o.Metadata.Labels[k]; got != v {
						t.Errorf("%s: label %s = %q, want %q", o.id(), k, got, v)
					}
				}
			}
		})
	}
}

// TestCRDs: the CRDs are templates, so that `helm upgrade` upgrades them
// (Helm never touches crds/ after the first install), kept on uninstall,
// and exactly the generated files/crds/.
func TestCRDs(t *testing.T) {
	if _, err := os.Stat(filepath.Join(chartDir(t), "crds")); err == nil {
		t.Errorf("charts/ppa/crds exists: Helm would install those CRDs once and never upgrade them")
	}
	crdsOf := func(objs []object) map[string]apiextensionsv1.CustomResourceDefinition {
		out := map[string]apiextensionsv1.CustomResourceDefinition{}
		for _, o := range objs {
			if o.Kind == "CustomResourceDefinition" {
				var crd apiextensionsv1.CustomResourceDefinition
				decode(t, o, &crd)
				out[crd.Name] = crd
			}
		}
		return out
	}
	crds := crdsOf(render(t))
	var names []string
	for n, crd := range crds {
		names = append(names, n)
		if crd.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s: annotations %v, want helm.sh/resource-policy: keep", n, crd.Annotations)
		}
		// The rendered schema is the generated file's.
		var gen apiextensionsv1.CustomResourceDefinition
		raw, err := os.ReadFile(filepath.Join(chartDir(t), "files", "crds", crd.Spec.Group+"_"+crd.Spec.Names.Plural+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, &gen); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(gen.Spec, crd.Spec) {
			t.Errorf("CRD %s: rendered spec differs from files/crds", n)
		}
	}
	sort.Strings(names)
	if want := []string{"forecasters.ppa-autoscaler.io", "models.ppa-autoscaler.io"}; !slices.Equal(names, want) {
		t.Fatalf("CRDs %v, want %v", names, want)
	}
	if got := crdsOf(render(t, "--set", "crds.install=false")); len(got) != 0 {
		t.Errorf("crds.install=false renders %d CRDs", len(got))
	}
	for n, crd := range crdsOf(render(t, "--set", "crds.keep=false")) {
		if _, ok := crd.Annotations["helm.sh/resource-policy"]; ok {
			t.Errorf("crds.keep=false: CRD %s still kept", n)
		}
	}
}

// podLike is what a pod-making object says about its pods' security: the
// pod security context (hasPodSC is false for the ClusterServingRuntime,
// whose KServe type has none) and the containers.
type podLike struct {
	pod        *corev1.PodSecurityContext
	hasPodSC   bool
	containers []corev1.Container
}

// podSpecs returns the podLike of every Deployment, ClusterServingRuntime
// and ClusterWorkflowTemplate among objs, by object id.
func podSpecs(t *testing.T, objs []object) map[string]podLike {
	t.Helper()
	out := map[string]podLike{}
	for _, o := range objs {
		switch o.Kind {
		case "Deployment":
			var d appsv1.Deployment
			decode(t, o, &d)
			out[o.id()] = podLike{d.Spec.Template.Spec.SecurityContext, true, d.Spec.Template.Spec.Containers}
		case "ClusterServingRuntime":
			var r kservev1alpha1.ClusterServingRuntime
			decode(t, o, &r)
			out[o.id()] = podLike{containers: r.Spec.Containers}
		case "ClusterWorkflowTemplate":
			var w wfv1.ClusterWorkflowTemplate
			decode(t, o, &w)
			var cs []corev1.Container
			for _, tmpl := range w.Spec.Templates {
				if tmpl.Container != nil {
					cs = append(cs, *tmpl.Container)
				}
			}
			out[o.id()] = podLike{w.Spec.SecurityContext, true, cs}
		}
	}
	return out
}

func TestSecurityContext(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", fullValues}} {
		objs := render(t, args...)
		pods := podSpecs(t, objs)
		if len(pods) != 4 {
			t.Fatalf("%v: found %d pod templates, want 4 (controller, scaler, runtime, training)", args, len(pods))
		}
		for id, p := range pods {
			if p.hasPodSC {
				if p.pod == nil || p.pod.RunAsNonRoot == nil || !*p.pod.RunAsNonRoot {
					t.Errorf("%s: pod securityContext.runAsNonRoot is not true", id)
				}
			}
			if len(p.containers) == 0 {
				t.Errorf("%s: no containers", id)
			}
			for _, c := range p.containers {
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Errorf("%s: container %q has no securityContext", id, c.Name)
				case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
					t.Errorf("%s: container %q: runAsNonRoot is not true", id, c.Name)
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					t.Errorf("%s: container %q: readOnlyRootFilesystem is not true", id, c.Name)
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Errorf("%s: container %q: allowPrivilegeEscalation is not false", id, c.Name)
				case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
					t.Errorf("%s: container %q: capabilities do not drop ALL", id, c.Name)
				}
			}
		}
	}
}

// TestControllerRBAC checks that the ClusterRole carries exactly the rules
// controller-gen generated from the controller's markers.
func TestControllerRBAC(t *testing.T) {
	root := repoRoot(t)
	generated, err := os.ReadFile(filepath.Join(root, "host", "controller", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile(filepath.Join(chartDir(t), "files", "controller-role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(copied) != string(generated) {
		t.Fatal("charts/ppa/files/controller-role.yaml differs from host/controller/rbac/role.yaml (regenerated by hack/gen-k8s.sh): cp host/controller/rbac/role.yaml charts/ppa/files/controller-role.yaml")
	}
	var want rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(generated, &want); err != nil {
		t.Fatalf("role.yaml: %v", err)
	}
	objs := render(t)
	var got rbacv1.ClusterRole
	decode(t, find(t, objs, "ClusterRole", "ppa-controller"), &got)
	if !reflect.DeepEqual(got.Rules, want.Rules) {
		t.Fatalf("ClusterRole rules:\n%+v\nwant (role.yaml):\n%+v", got.Rules, want.Rules)
	}
	var crb rbacv1.ClusterRoleBinding
	decode(t, find(t, objs, "ClusterRoleBinding", "ppa-controller"), &crb)
	if crb.RoleRef.Name != "ppa-controller" || len(crb.Subjects) != 1 ||
		crb.Subjects[0] != (rbacv1.Subject{Kind: "ServiceAccount", Name: "ppa-controller", Namespace: namespace}) {
		t.Fatalf("ClusterRoleBinding: %+v", crb)
	}
	var role rbacv1.Role
	decode(t, find(t, objs, "Role", "ppa-controller-leader-election"), &role)
	var leases bool
	for _, r := range role.Rules {
		if slices.Contains(r.APIGroups, "coordination.k8s.io") && slices.Contains(r.Resources, "leases") &&
			slices.Contains(r.Verbs, "create") && slices.Contains(r.Verbs, "update") {
			leases = true
		}
	}
	if !leases {
		t.Fatalf("leader election Role cannot create and update leases: %+v", role.Rules)
	}
}

// deployment decodes a rendered Deployment and checks that its selector,
// pod labels and Service agree.
func deployment(t *testing.T, objs []object, name, service string) appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	decode(t, find(t, objs, "Deployment", name), &d)
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("%s: selector %s=%s not on the pod template", name, k, v)
		}
	}
	var svc corev1.Service
	decode(t, find(t, objs, "Service", service), &svc)
	if !reflect.DeepEqual(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service %s selects %v, Deployment %s has %v", service, svc.Spec.Selector, name, d.Spec.Selector.MatchLabels)
	}
	ports := map[string]bool{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		ports[p.Name] = true
	}
	for _, p := range svc.Spec.Ports {
		if !ports[p.TargetPort.StrVal] {
			t.Errorf("Service %s: port %s targets %q, which the container does not declare", service, p.Name, p.TargetPort.String())
		}
	}
	return d
}

func TestDefaults(t *testing.T) {
	meta := readChartMeta(t)
	objs := render(t)

	ctrl := deployment(t, objs, "ppa-controller", "ppa-controller-metrics").Spec.Template.Spec.Containers[0]
	if ctrl.Image != "ghcr.io/ppa-autoscaler/ppa-controller:"+meta.AppVersion {
		t.Errorf("controller image %q", ctrl.Image)
	}
	for flag, want := range map[string]string{
		"trainer-image":             "ghcr.io/ppa-autoscaler/ppa-trainer:" + meta.AppVersion,
		"trainer-command":           "ppa-trainer",
		"grpc-port":                 "8081",
		"leader-elect":              "true",
		"leader-election-namespace": namespace,
		"training-service-account":  "ppa-workflow",
		"deployment-mode":           "RawDeployment",
	} {
		if got, _ := argValue(ctrl.Args, flag); got != want {
			t.Errorf("controller --%s = %q, want %q", flag, got, want)
		}
	}
	for _, flag := range []string{"default-store-uri", "default-store-credentials-secret"} {
		if v, ok := argValue(ctrl.Args, flag); ok {
			t.Errorf("controller --%s=%s without a store in the values", flag, v)
		}
	}

	sc := deployment(t, objs, "ppa-scaler", "ppa-scaler").Spec.Template.Spec.Containers[0]
	if _, ok := argValue(sc.Args, "runtime-address"); ok {
		t.Errorf("scaler --runtime-address set by default: %v", sc.Args)
	}
	for _, p := range []*corev1.Probe{sc.LivenessProbe, sc.ReadinessProbe} {
		if p == nil || p.GRPC == nil || p.GRPC.Port != 9090 {
			t.Errorf("scaler probe is not gRPC health on 9090: %+v", p)
		}
	}
	var svc corev1.Service
	decode(t, find(t, objs, "Service", "ppa-scaler"), &svc)
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	if !reflect.DeepEqual(ports, map[string]int32{"grpc": 9090, "metrics": 8080}) {
		t.Errorf("scaler Service ports %v, want grpc 9090 and metrics 8080", ports)
	}

	var rt kservev1alpha1.ClusterServingRuntime
	decode(t, find(t, objs, "ClusterServingRuntime", "ppa-runtime"), &rt)
	if len(rt.Spec.SupportedModelFormats) != 1 || rt.Spec.SupportedModelFormats[0].Name != "ppa" {
		t.Errorf("runtime model formats %+v, want ppa", rt.Spec.SupportedModelFormats)
	}
	var protocols []string
	for _, p := range rt.Spec.ProtocolVersions {
		protocols = append(protocols, string(p))
	}
	if !slices.Equal(protocols, []string{"v2", "grpc-v2"}) {
		t.Errorf("runtime protocols %v, want v2 and grpc-v2", protocols)
	}
	if len(rt.Spec.Containers) != 1 {
		t.Fatalf("runtime containers: %d, want 1", len(rt.Spec.Containers))
	}
	rc := rt.Spec.Containers[0]
	// KServe merges the runtime's container with the predictor's by this name.
	if rc.Name != "kserve-container" || !slices.Equal(rc.Command, []string{"ppa-runtime"}) {
		t.Errorf("runtime container %q runs %v, want kserve-container running ppa-runtime", rc.Name, rc.Command)
	}
	rports := map[string]int32{}
	for _, p := range rc.Ports {
		rports[p.Name] = p.ContainerPort
	}
	if !reflect.DeepEqual(rports, map[string]int32{"http1": 8080, "h2c": 8081}) {
		t.Errorf("runtime ports %v, want http1 8080 and h2c 8081", rports)
	}
	cacheDir, _ := argValue(rc.Args, "cache-dir")
	if len(rc.VolumeMounts) != 1 || rc.VolumeMounts[0].MountPath != cacheDir || cacheDir == "" {
		t.Errorf("runtime --cache-dir=%s is not the mounted volume %+v", cacheDir, rc.VolumeMounts)
	}
	for flag, want := range map[string]string{"http-port": "8080", "grpc-port": "8081"} {
		if got, _ := argValue(rc.Args, flag); got != want {
			t.Errorf("runtime --%s = %q, want %q", flag, got, want)
		}
	}

	// The names and numbers the controller and the runtime assume.
	if rt.Name != ppav1.DefaultRuntime {
		t.Errorf("runtime name %q, Models default to %q", rt.Name, ppav1.DefaultRuntime)
	}
	for _, p := range []struct {
		port  string
		want  int32
		whose string
	}{
		{"h2c", controller.DefaultGRPCPort, "the controller's --grpc-port default"},
		{"h2c", pparuntime.DefaultGRPCPort, "the runtime's --grpc-port default"},
		{"http1", pparuntime.DefaultHTTPPort, "the runtime's --http-port default"},
	} {
		if rports[p.port] != p.want {
			t.Errorf("runtime port %s is %d, %s is %d", p.port, rports[p.port], p.whose, p.want)
		}
	}
	if got, _ := argValue(ctrl.Args, "trainer-command"); got != controller.DefaultTrainerCommand {
		t.Errorf("controller --trainer-command=%s, the controller's default is %s", got, controller.DefaultTrainerCommand)
	}

	var wt wfv1.ClusterWorkflowTemplate
	decode(t, find(t, objs, "ClusterWorkflowTemplate", "ppa-train"), &wt)
	var params []string
	for _, p := range wt.Spec.Arguments.Parameters {
		params = append(params, p.Name)
	}
	if want := []string{"prometheus-url", "query", "model", "history", "step", "store", "plugin", "params"}; !slices.Equal(params, want) {
		t.Errorf("workflow parameters %v, want %v", params, want)
	}
	if wt.Spec.ServiceAccountName != "ppa-workflow" || wt.Spec.Entrypoint != "train" {
		t.Errorf("workflow serviceAccountName %q entrypoint %q", wt.Spec.ServiceAccountName, wt.Spec.Entrypoint)
	}
	tmpl := wt.Spec.Templates[0]
	out := tmpl.Outputs.Parameters
	resultFile, _ := argValue(tmpl.Container.Args, "result-file")
	// The same result file and global output as the controller's workflows.
	if resultFile != controller.ResultFile {
		t.Errorf("workflow --result-file=%s, the controller's workflows use %s", resultFile, controller.ResultFile)
	}
	if len(out) != 1 || out[0].ValueFrom == nil || out[0].ValueFrom.Path != resultFile || out[0].GlobalName != controller.OutputResult {
		t.Errorf("workflow output %+v does not export --result-file=%s as ppa-result", out, resultFile)
	}
	if !mountedUnder(tmpl.Container.VolumeMounts, resultFile) {
		t.Errorf("result file %s is not on a mounted volume (the root file system is read-only): %+v", resultFile, tmpl.Container.VolumeMounts)
	}
}

// mountedUnder reports whether path is under one of the mounts.
func mountedUnder(mounts []corev1.VolumeMount, path string) bool {
	for _, m := range mounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

func TestFullValues(t *testing.T) {
	objs := render(t, "-f", fullValues)
	const store = "s3://ppa-models/team-a?endpoint=minio.minio%3A9000&region=eu-west-1&insecure=true"

	ctrl := deployment(t, objs, "acme-ppa-controller", "acme-ppa-controller-metrics").Spec.Template
	c := ctrl.Spec.Containers[0]
	if c.Image != "registry.example/ppa-controller:v9.9.9" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("controller image %q %q", c.Image, c.ImagePullPolicy)
	}
	for flag, want := range map[string]string{
		"default-store-uri":                store,
		"default-store-credentials-secret": "acme-ppa-store",
		"store-credentials-namespace":      namespace,
		"deployment-mode":                  "Serverless",
		"builtin-forecasters":              "seasonal-naive",
		"log-level":                        "debug",
		"trainer-image":                    "registry.example/ppa-trainer:v9.9.9",
	} {
		if got, _ := argValue(c.Args, flag); got != want {
			t.Errorf("controller --%s = %q, want %q", flag, got, want)
		}
	}
	if ctrl.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(ctrl.Spec.Tolerations) != 1 ||
		len(ctrl.Spec.ImagePullSecrets) != 1 || ctrl.Spec.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("controller pod: nodeSelector %v tolerations %v imagePullSecrets %v", ctrl.Spec.NodeSelector, ctrl.Spec.Tolerations, ctrl.Spec.ImagePullSecrets)
	}

	var secret corev1.Secret
	decode(t, find(t, objs, "Secret", "acme-ppa-store"), &secret)
	if secret.StringData["AWS_ACCESS_KEY_ID"] != "AKIAEXAMPLE" || secret.StringData["AWS_SECRET_ACCESS_KEY"] != "example-secret" {
		t.Errorf("store Secret keys %v", secret.StringData)
	}

	sc := deployment(t, objs, "acme-ppa-scaler", "acme-ppa-scaler").Spec.Template.Spec
	s := sc.Containers[0]
	for flag, want := range map[string]string{
		"runtime-address": "ppa-runtime.ppa-system.svc:8081",
		"tls-cert":        "/etc/ppa/tls/tls.crt",
		"tls-key":         "/etc/ppa/tls/tls.key",
	} {
		if got, _ := argValue(s.Args, flag); got != want {
			t.Errorf("scaler --%s = %q, want %q", flag, got, want)
		}
	}
	for _, p := range []*corev1.Probe{s.LivenessProbe, s.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
			t.Errorf("scaler with TLS: probe is not HTTP /healthz: %+v", p)
		}
	}
	if len(sc.Volumes) != 1 || sc.Volumes[0].Secret == nil || sc.Volumes[0].Secret.SecretName != "scaler-tls" {
		t.Errorf("scaler TLS volume %+v", sc.Volumes)
	}

	var rt kservev1alpha1.ClusterServingRuntime
	decode(t, find(t, objs, "ClusterServingRuntime", "ppa-runtime"), &rt)
	rc := rt.Spec.Containers[0]
	for flag, want := range map[string]string{"store": store, "poll-interval": "1m", "plugin-instances": "2", "max-horizon": "2d"} {
		if got, _ := argValue(rc.Args, flag); got != want {
			t.Errorf("runtime --%s = %q, want %q", flag, got, want)
		}
	}
	if rt.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(rt.Spec.Tolerations) != 1 {
		t.Errorf("runtime nodeSelector %v tolerations %v", rt.Spec.NodeSelector, rt.Spec.Tolerations)
	}

	var wt wfv1.ClusterWorkflowTemplate
	decode(t, find(t, objs, "ClusterWorkflowTemplate", "ppa-train"), &wt)
	defaults := map[string]string{}
	for _, p := range wt.Spec.Arguments.Parameters {
		if p.Value != nil {
			defaults[p.Name] = p.Value.String()
		}
	}
	for name, want := range map[string]string{"store": store, "plugin": "seasonal-naive", "history": "7d", "step": "1m"} {
		if defaults[name] != want {
			t.Errorf("workflow parameter %s defaults to %q, want %q", name, defaults[name], want)
		}
	}
	tmpl := wt.Spec.Templates[0]
	if tmpl.RetryStrategy != nil {
		t.Errorf("retries 0 still renders a retryStrategy: %+v", tmpl.RetryStrategy)
	}
	if len(tmpl.Container.EnvFrom) != 1 || tmpl.Container.EnvFrom[0].SecretRef.Name != "acme-ppa-store" {
		t.Errorf("training envFrom %+v, want the store Secret", tmpl.Container.EnvFrom)
	}
	if tmpl.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("training nodeSelector %v", tmpl.NodeSelector)
	}
	if wt.Spec.ServiceAccountName != "acme-ppa-workflow" {
		t.Errorf("workflow serviceAccountName %q", wt.Spec.ServiceAccountName)
	}
	for _, name := range []string{"acme-ppa-controller", "acme-ppa-scaler"} {
		sm := find(t, objs, "ServiceMonitor", name)
		var m struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				Endpoints []struct {
					Port string `json:"port"`
				} `json:"endpoints"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(sm.Raw, &m); err != nil {
			t.Fatal(err)
		}
		if len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Port != "metrics" || len(m.Spec.Selector.MatchLabels) == 0 {
			t.Errorf("ServiceMonitor %s: %+v", name, m.Spec)
		}
	}
}

// TestSchema checks that values.schema.json (and the templates' own
// checks) reject wrong values, and that the same --set mechanism accepts a
// right one.
func TestSchema(t *testing.T) {
	for _, tt := range []struct {
		name    string
		set     []string
		wantErr string // "" means it must render
	}{
		{"valid port", []string{"--set", "scaler.grpcPort=9191"}, ""},
		{"port not a number", []string{"--set", "scaler.grpcPort=notaport"}, "grpcPort"},
		{"port out of range", []string{"--set", "runtime.httpPort=70000"}, "httpPort"},
		{"replicas as string", []string{"--set-string", "controller.replicas=2"}, "replicas"},
		{"log level", []string{"--set", "controller.logLevel=verbose"}, "logLevel"},
		{"duration without unit", []string{"--set", "scaler.runtimeTimeout=5"}, "runtimeTimeout"},
		{"unknown key", []string{"--set", "runtime.cacheDirectory=/x"}, "cacheDirectory"},
		{"bool as string", []string{"--set-string", "controller.leaderElect=yes"}, "leaderElect"},
		{"store uri scheme", []string{"--set", "store.uri=http://minio:9000/bucket"}, "uri"},
		{"pull policy", []string{"--set", "scaler.image.pullPolicy=Sometimes"}, "pullPolicy"},
		{"secret without keys", []string{"--set", "store.credentials.create=true"}, "store.credentials.create"},
		{"secret without store", []string{"--set", "store.credentials.secretName=s3-keys"}, "there is no store"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"template", release, chartDir(t), "--namespace", namespace}, tt.set...)
			out, err := runHelm(t, args...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out, "--grpc-port=9191") || !strings.Contains(out, "port: 9191") {
					t.Fatalf("--set scaler.grpcPort=9191 did not reach the scaler:\n%s", out)
				}
				return
			}
			if err == nil {
				t.Fatalf("helm template %v rendered; want an error about %q", tt.set, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("helm template %v: error does not mention %q:\n%v", tt.set, tt.wantErr, err)
			}
		})
	}
}

// TestDurationsParse checks the scaler's duration values with Go's parser
// (the scaler uses the flag package's durations, which take no days).
func TestDurationsParse(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", fullValues}} {
		objs := render(t, args...)
		for _, o := range objs {
			if o.Kind != "Deployment" || !strings.HasSuffix(o.Metadata.Name, "-scaler") {
				continue
			}
			var d appsv1.Deployment
			decode(t, o, &d)
			for _, flag := range []string{"runtime-timeout", "refresh-interval"} {
				v, ok := argValue(d.Spec.Template.Spec.Containers[0].Args, flag)
				if !ok {
					t.Errorf("%v: scaler has no --%s", args, flag)
					continue
				}
				if _, err := time.ParseDuration(v); err != nil {
					t.Errorf("%v: scaler --%s=%s: %v", args, flag, v, err)
				}
			}
		}
	}
}
