package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ppav1 "github.com/ppa-autoscaler/ppa/api/v1alpha1"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// Versions of the components install-cluster.sh builds; keep them in step
// with the script's defaults.
const (
	KubeVersion = "v1.34.3"
	KEDAVersion = "v2.18.3"
	ArgoVersion = "v3.7.18"
	KWOKVersion = "v0.8.0"
)

// ComponentsDir is the folder install-cluster.sh fills: $PPA_CLUSTER_BIN,
// else its place under testenv.BinDir. The error names the script when a
// component is missing.
func ComponentsDir() (string, error) {
	dir := os.Getenv("PPA_CLUSTER_BIN")
	if dir == "" {
		dir = filepath.Join(testenv.BinDir(), "cluster",
			"kube-"+KubeVersion+"-keda-"+KEDAVersion+"-argo-"+ArgoVersion+"-kwok-"+KWOKVersion)
	}
	for _, f := range []string{"kube-controller-manager", "kube-scheduler", "keda-operator", "keda-adapter",
		"workflow-controller", "kwok", "kwok-stages.yaml", "crds/keda", "crds/argo", "crds/kserve"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return "", fmt.Errorf("cluster components: no %s in %s: run test/scripts/install-cluster.sh "+
				"(builds kube-controller-manager, kube-scheduler, KEDA, Argo and KWOK from the Go module proxy, "+
				"about 15 minutes the first time) or point PPA_CLUSTER_BIN at its folder", f, dir)
		}
	}
	return dir, nil
}

// Namespaces of the components, as a real installation names them.
const (
	kedaNamespace = "keda"
	argoNamespace = "argo"
)

// Cluster is a running control plane. Everything it started is stopped and
// reaped by the test's cleanup, in reverse order, even when the test fails.
type Cluster struct {
	t   testing.TB
	dir string // components
	tmp string

	// Config is cluster-admin's REST config; Kubeconfig its file.
	Config     *rest.Config
	Kubeconfig string
	// Client reads and writes any object (typed for core, apps,
	// autoscaling, PPA and Argo kinds; unstructured for the rest).
	Client client.Client
	// Kube is a typed clientset (TokenRequest, events).
	Kube kubernetes.Interface

	frontCA   *authority
	kedaCerts string
	mu        sync.Mutex
	children  map[string]*testenv.Child // the components, by name
	stopped   map[string]bool           // components stopped on purpose
	// Binaries maps a container command's base name (ppa-trainer, ...) to
	// the local program run in its place.
	Binaries map[string]string
}

// Scheme holds the typed kinds Client knows.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme,
		ppav1.AddToScheme, wfv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("scheme: %w", err)
		}
	}
	return s, nil
}

// Start brings the control plane up and waits until each component works:
// the apiserver with every CRD, the node Ready under KWOK, the external
// metrics API Available, Argo and KEDA running.
func Start(t testing.TB, binaries map[string]string) *Cluster {
	t.Helper()
	dir, err := ComponentsDir()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := testenv.EnvtestAssets()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: dir, tmp: t.TempDir(), children: map[string]*testenv.Child{}, stopped: map[string]bool{}, Binaries: binaries}
	if err := c.startAPIServer(assets); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"kube-controller-manager", c.startControllerManager},
		{"kube-scheduler", c.startScheduler},
		{"kwok", c.startKWOK},
		{"node", c.createNode},
		{"keda", c.startKEDA},
		{"argo", c.startArgo},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(); err != nil {
			t.Fatalf("cluster: %s: %v", s.name, err)
		}
		t.Logf("cluster: %s up in %v", s.name, time.Since(start).Round(100*time.Millisecond))
	}
	if err := c.waitExternalMetricsAPI(); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	return c
}

func (c *Cluster) path(name string) string { return filepath.Join(c.tmp, name) }

// startAPIServer starts etcd and kube-apiserver with the aggregation
// layer's flags and the third-party CRDs, and makes the admin clients.
func (c *Cluster) startAPIServer(assets string) error {
	var err error
	if c.frontCA, err = newAuthority("front-proxy-ca"); err != nil {
		return err
	}
	crt, key, err := c.frontCA.issue("front-proxy-client")
	if err != nil {
		return err
	}
	files := map[string][]byte{"front-proxy-ca.crt": c.frontCA.pem, "front-proxy-client.crt": crt, "front-proxy-client.key": key}
	for name, b := range files {
		if err := os.WriteFile(c.path(name), b, 0o600); err != nil {
			return fmt.Errorf("front proxy certificates: %w", err)
		}
	}
	env := &envtest.Environment{
		CRDDirectoryPaths: []string{
			filepath.Join(c.dir, "crds", "keda"), filepath.Join(c.dir, "crds", "argo"), filepath.Join(c.dir, "crds", "kserve"),
		},
		BinaryAssetsDirectory: assets,
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("requestheader-client-ca-file", c.path("front-proxy-ca.crt"))
	args.Set("requestheader-allowed-names", "front-proxy-client")
	args.Set("requestheader-extra-headers-prefix", "X-Remote-Extra-")
	args.Set("requestheader-group-headers", "X-Remote-Group")
	args.Set("requestheader-username-headers", "X-Remote-User")
	args.Set("proxy-client-cert-file", c.path("front-proxy-client.crt"))
	args.Set("proxy-client-key-file", c.path("front-proxy-client.key"))
	// Stopped after every other cleanup (they are registered later).
	c.Config, c.Kubeconfig = testenv.StartEnvtest(c.t, env, "cluster-admin")
	scheme, err := Scheme()
	if err != nil {
		return err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if c.Kube, err = kubernetes.NewForConfig(c.Config); err != nil {
		return fmt.Errorf("clientset: %w", err)
	}
	return nil
}

// kubeconfigIn writes a copy of the admin kubeconfig whose context's
// namespace is ns (components that take their namespace from it).
func (c *Cluster) kubeconfigIn(ns string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	for _, ctx := range cfg.Contexts {
		ctx.Namespace = ns
	}
	p := c.path(ns + ".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return p, nil
}

// start runs a component and remembers it under name.
func (c *Cluster) start(name, bin string, args, env []string) *testenv.Child {
	ch := testenv.Start(c.t, name, bin, c.tmp, args, env)
	c.mu.Lock()
	c.children[name] = ch
	c.mu.Unlock()
	return ch
}

func (c *Cluster) port() string { return strconv.Itoa(testenv.FreePort(c.t)) }

func (c *Cluster) startControllerManager() error {
	c.start("kube-controller-manager", filepath.Join(c.dir, "kube-controller-manager"), []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + c.port(),
		"--leader-elect=false",
		"--controllers=deployment-controller,replicaset-controller,horizontal-pod-autoscaler-controller,garbage-collector-controller",
		// A fast loop for a test; production keeps 15s.
		"--horizontal-pod-autoscaler-sync-period=5s",
		"--concurrent-deployment-syncs=5",
		"--v=1",
	}, nil)
	return nil
}

func (c *Cluster) startScheduler() error {
	c.start("kube-scheduler", filepath.Join(c.dir, "kube-scheduler"), []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + c.port(),
		"--leader-elect=false",
	}, nil)
	return nil
}

// kwokNode is the one node KWOK plays the kubelet of.
const kwokNode = "kwok-node-0"

func (c *Cluster) startKWOK() error {
	upstream, err := os.ReadFile(filepath.Join(c.dir, "kwok-stages.yaml"))
	if err != nil {
		return fmt.Errorf("kwok stages: %w", err)
	}
	ours, err := os.ReadFile(filepath.Join("testdata", "kwok-workflow-stages.yaml"))
	if err != nil {
		return fmt.Errorf("kwok stages: %w", err)
	}
	cfg := c.path("kwok.yaml")
	if err := os.WriteFile(cfg, append(append(upstream, "\n---\n"...), ours...), 0o600); err != nil {
		return fmt.Errorf("kwok stages: %w", err)
	}
	c.start("kwok", filepath.Join(c.dir, "kwok"), []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--config=" + cfg,
		"--manage-all-nodes=true",
		"--node-ip=127.0.0.1",
		"--cidr=10.244.0.0/16",
		"--server-address=127.0.0.1:" + c.port(),
		"--node-lease-duration-seconds=0",
	}, []string{"HOME=" + c.tmp})
	return nil
}

// createNode registers the node KWOK runs and waits until it is Ready.
func (c *Cluster) createNode() error {
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: kwokNode, Labels: map[string]string{
		"kubernetes.io/hostname": kwokNode, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok",
	}}}
	if err := c.Client.Create(ctx, n); err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	n.Status.Capacity = corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("200"),
	}
	n.Status.Allocatable = n.Status.Capacity
	if err := c.Client.Status().Update(ctx, n); err != nil {
		return fmt.Errorf("node capacity: %w", err)
	}
	err := c.poll(60*time.Second, "node "+kwokNode+" Ready under KWOK", func() (bool, error) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(n), n); err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	// The apiserver taints a new node not-ready; the node lifecycle
	// controller (not run here: it would also judge KWOK's heartbeats)
	// lifts the taint once the node reports Ready. Do that step.
	n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
	if err := c.Client.Update(ctx, n); err != nil {
		return fmt.Errorf("lift the not-ready taint: %w", err)
	}
	return nil
}

// startKEDA starts KEDA's operator and metrics adapter out of cluster, as
// cluster-e2e.md measured: certificates made up front (no cert rotation,
// which would write a Secret and exit), one cert dir shared by both, and
// the adapter registered as v1beta1.external.metrics.k8s.io through an
// ExternalName Service naming localhost.
func (c *Cluster) startKEDA() error {
	ctx := context.Background()
	ca, err := newAuthority("keda-ca")
	if err != nil {
		return err
	}
	c.kedaCerts = c.path("keda-certs")
	if err := ca.writeTLSDir(c.kedaCerts, "keda-operator", "keda-operator", "keda-operator.keda.svc",
		"keda-operator.keda.svc.cluster.local", "keda-metrics-apiserver.keda.svc", "localhost", "127.0.0.1"); err != nil {
		return err
	}
	for _, ns := range []string{kedaNamespace, argoNamespace} {
		if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	env := []string{"KUBECONFIG=" + c.Kubeconfig, "KEDA_CLUSTER_OBJECT_NAMESPACE=" + kedaNamespace, "WATCH_NAMESPACE=",
		"POD_NAMESPACE=" + kedaNamespace, "OPERATOR_NAME=keda-operator", "KEDA_HTTP_DEFAULT_TIMEOUT=3000"}
	grpcAddr := "127.0.0.1:" + c.port()
	c.start("keda-operator", filepath.Join(c.dir, "keda-operator"), []string{
		"--leader-elect=false",
		"--metrics-bind-address=127.0.0.1:" + c.port(),
		"--health-probe-bind-address=127.0.0.1:" + c.port(),
		"--metrics-service-bind-address=" + grpcAddr,
		"--cert-dir=" + c.kedaCerts,
		"--ca-dir=" + c.kedaCerts,
		"--enable-cert-rotation=false",
		"--enable-webhook-patching=false",
		"--zap-log-level=info",
	}, env)
	adapterPort := testenv.FreePort(c.t)
	c.start("keda-adapter", filepath.Join(c.dir, "keda-adapter"), []string{
		"--secure-port=" + strconv.Itoa(adapterPort),
		"--bind-address=127.0.0.1",
		"--cert-dir=" + c.kedaCerts,
		"--tls-cert-file=" + filepath.Join(c.kedaCerts, "tls.crt"),
		"--tls-private-key-file=" + filepath.Join(c.kedaCerts, "tls.key"),
		"--kubeconfig=" + c.Kubeconfig,
		"--lister-kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--metrics-service-address=" + grpcAddr,
		"--metrics-service-grpc-authority=keda-operator.keda.svc.cluster.local",
		"--port=" + c.port(),
		"--v=1",
	}, env)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "keda-metrics-apiserver", Namespace: kedaNamespace},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost",
			Ports: []corev1.ServicePort{{Name: "https", Port: int32(adapterPort), TargetPort: intstr.FromInt(adapterPort)}}},
	}
	if err := c.Client.Create(ctx, svc); err != nil {
		return fmt.Errorf("adapter service: %w", err)
	}
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": externalMetricsAPIService},
		"spec": map[string]any{
			"service":               map[string]any{"namespace": kedaNamespace, "name": svc.Name, "port": int64(adapterPort)},
			"group":                 "external.metrics.k8s.io",
			"version":               "v1beta1",
			"insecureSkipTLSVerify": true,
			"groupPriorityMinimum":  int64(100),
			"versionPriority":       int64(100),
		},
	}}
	if err := c.Client.Create(ctx, api); err != nil {
		return fmt.Errorf("external metrics APIService: %w", err)
	}
	return nil
}

// externalMetricsAPIService is the APIService KEDA's adapter serves.
const externalMetricsAPIService = "v1beta1.external.metrics.k8s.io"

// waitExternalMetricsAPI waits until the aggregator reports KEDA's adapter
// Available.
func (c *Cluster) waitExternalMetricsAPI() error {
	ctx := context.Background()
	return c.poll(90*time.Second, "APIService "+externalMetricsAPIService+" Available", func() (bool, error) {
		api := &unstructured.Unstructured{}
		api.SetAPIVersion("apiregistration.k8s.io/v1")
		api.SetKind("APIService")
		if err := c.Client.Get(ctx, client.ObjectKey{Name: externalMetricsAPIService}, api); err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(api.Object, "status", "conditions")
		for _, x := range conds {
			cond, _ := x.(map[string]any)
			if cond["type"] == "Available" {
				return cond["status"] == "True", fmt.Errorf("%v: %v", cond["reason"], cond["message"])
			}
		}
		return false, nil
	})
}

// startArgo starts the workflow-controller in namespace argo, cluster-wide,
// with its metrics on a free port (its /healthz stays on :6060: it has no
// flag for it).
func (c *Cluster) startArgo() error {
	ctx := context.Background()
	mport := c.port()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "workflow-controller-configmap", Namespace: argoNamespace},
		Data: map[string]string{
			"metricsConfig":   "enabled: true\nport: " + mport + "\n",
			"telemetryConfig": "enabled: false\n",
		},
	}
	if err := c.Client.Create(ctx, cm); err != nil {
		return fmt.Errorf("workflow-controller-configmap: %w", err)
	}
	kc, err := c.kubeconfigIn(argoNamespace)
	if err != nil {
		return err
	}
	c.start("workflow-controller", filepath.Join(c.dir, "workflow-controller"), []string{
		"--kubeconfig=" + kc,
		"--configmap=workflow-controller-configmap",
		"--executor-image=quay.io/argoproj/argoexec:" + ArgoVersion,
		"--loglevel=info",
	}, []string{"LEADER_ELECTION_DISABLE=true"})
	return nil
}

// Stop stops a component started by Start (for fault tests), giving it
// grace to exit.
func (c *Cluster) Stop(name string, grace time.Duration) {
	c.t.Helper()
	c.mu.Lock()
	ch, ok := c.children[name]
	c.stopped[name] = true
	c.mu.Unlock()
	if !ok {
		c.t.Fatalf("cluster: no component %q", name)
	}
	ch.Stop(grace)
}

// poll calls cond every 250ms until it reports done, failing after timeout
// with what and cond's last error.
func (c *Cluster) poll(timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := cond()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		if err := c.checkComponents(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s after %v (last: %v)", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkComponents fails when a component exited that was not stopped on
// purpose.
func (c *Cluster) checkComponents() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, ch := range c.children {
		if exited, err := ch.Exited(); exited && !c.stopped[name] {
			return fmt.Errorf("%s exited (%v):\n%s", name, err, ch.Log())
		}
	}
	return nil
}
