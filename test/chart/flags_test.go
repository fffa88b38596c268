package chart

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	kservev1alpha1 "github.com/kserve/kserve/pkg/apis/serving/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// renderings are the value sets whose arguments are checked.
var renderings = []struct {
	name string
	args []string
}{
	{"defaults", nil},
	{"full", []string{"-f", fullValues}},
}

// containersOf returns the rendered containers that run each binary:
// Deployments by their command, the runtime and the training template.
func containersOf(t *testing.T, objs []object) map[string][]corev1.Container {
	t.Helper()
	out := map[string][]corev1.Container{}
	for _, o := range objs {
		switch o.Kind {
		case "Deployment":
			var d appsv1.Deployment
			decode(t, o, &d)
			for _, c := range d.Spec.Template.Spec.Containers {
				out[c.Command[0]] = append(out[c.Command[0]], c)
			}
		case "ClusterServingRuntime":
			var r kservev1alpha1.ClusterServingRuntime
			decode(t, o, &r)
			for _, c := range r.Spec.Containers {
				out[c.Command[0]] = append(out[c.Command[0]], c)
			}
		case "ClusterWorkflowTemplate":
			var w wfv1.ClusterWorkflowTemplate
			decode(t, o, &w)
			for _, tmpl := range w.Spec.Templates {
				if c := tmpl.Container; c != nil {
					// The trainer itself: the images hold no shell.
					if len(c.Command) != 1 {
						t.Fatalf("training command %q: want the trainer alone (the trainer image has no shell)", c.Command)
					}
					out[c.Command[0]] = append(out[c.Command[0]], *c)
				}
			}
		}
	}
	return out
}

// TestArgsAreFlagsOfTheBinaries checks every argument the chart passes to
// a binary against the flags that binary's --help lists, so that a renamed
// or removed flag fails here rather than in a cluster.
func TestArgsAreFlagsOfTheBinaries(t *testing.T) {
	dir := buildBinaries(t)
	flags := map[string]map[string]bool{}
	for _, b := range binaries {
		flags[b] = flagNames(t, filepath.Join(dir, b))
	}
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			byBinary := containersOf(t, render(t, r.args...))
			for _, b := range binaries {
				cs := byBinary[b]
				if len(cs) != 1 {
					t.Errorf("%d containers run %s, want 1", len(cs), b)
					continue
				}
				for _, a := range cs[0].Args {
					name := flagName(a)
					if name == "" || !strings.Contains(a, "=") {
						t.Errorf("%s: argument %q is not --FLAG=VALUE", b, a)
						continue
					}
					if !flags[b][name] {
						t.Errorf("%s has no flag --%s (argument %q)", b, name, a)
					}
				}
			}
		})
	}
}

// run runs name with args in an isolated environment, in a temporary
// directory holding one file (so that an unwanted glob would match it),
// and returns its exit code and output.
func run(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cmd.Dir, "decoy"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	default:
		t.Fatalf("%s: %v", name, err)
		return 0, ""
	}
}

// badStore is a store directory that cannot be created (its parent is a
// file): the binaries get past their flags and fail at the store.
func badStore(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(f, "store")
}

// TestBinariesAcceptArgs runs the controller, the runtime and the trainer
// with the arguments the chart renders: each must get past its flag
// parsing and validation, and stop at the first thing that needs a
// cluster or a store.
func TestBinariesAcceptArgs(t *testing.T) {
	dir := buildBinaries(t)
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			byBinary := containersOf(t, render(t, r.args...))

			t.Run("controller", func(t *testing.T) {
				// No kubeconfig, no in-cluster variables: the controller
				// parses and validates its options, then fails to find a
				// cluster.
				c := byBinary["ppa-controller"][0]
				code, out := run(t, isolatedEnv(t), filepath.Join(dir, "ppa-controller"), c.Args...)
				if code != 1 || !strings.Contains(out, "kubernetes config") {
					t.Fatalf("ppa-controller %q: exit %d, want 1 at the kubernetes config:\n%s", c.Args, code, out)
				}
			})

			t.Run("runtime", func(t *testing.T) {
				// KServe appends the predictor's arguments (the controller's
				// --store and --model) to the runtime's; the test then moves
				// the ports to loopback and the cache to a temporary folder.
				c := byBinary["ppa-runtime"][0]
				args := append(append([]string{}, c.Args...),
					"--store="+badStore(t), "--model=shop/web-rps",
					"--listen-address=127.0.0.1", "--http-port=0", "--grpc-port=0", "--cache-dir="+t.TempDir())
				code, out := run(t, isolatedEnv(t), filepath.Join(dir, "ppa-runtime"), args...)
				if code != 1 || !strings.Contains(out, "open store") {
					t.Fatalf("ppa-runtime %q: exit %d, want 1 at the store:\n%s", args, code, out)
				}
			})

			t.Run("trainer", func(t *testing.T) {
				testTrainerTemplate(t, dir, byBinary["ppa-trainer"][0])
			})
		})
	}
}

var workflowVar = regexp.MustCompile(`\{\{workflow\.(parameters\.)?([a-z-]+)\}\}`)

// testTrainerTemplate runs the training template's command the way the
// pod would (the trainer and its arguments, no shell) with Argo's variables
// substituted, and checks that the params parameter becomes plugin
// parameters.
func testTrainerTemplate(t *testing.T, dir string, c corev1.Container) {
	trainer := filepath.Join(dir, c.Command[0])
	for _, tt := range []struct {
		name     string
		params   string
		wantCode int
		wantOut  string
	}{
		// Flags and params parse; the store fails (exit 1, not 2).
		{"params", "seasonality_mode=multiplicative  changepoint_prior_scale=0.1\nn_changepoints=5", 1, "not a directory"},
		{"no params", "", 1, "not a directory"},
		// A malformed pair is named.
		{"bad param", "seasonality_mode=additive broken", 2, `--params "broken"`},
		// Glob characters stay literal (no shell expands them).
		{"glob", "a=1 *", 2, `--params "*"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{
				"prometheus-url": "http://127.0.0.1:1",
				"query":          `sum(rate(http_requests_total{service="web"}[2m]))`,
				"model":          "shop/web-rps",
				"history":        "14d",
				"step":           "1m",
				"store":          badStore(t),
				"plugin":         "prophet",
				"params":         tt.params,
				"name":           "ppa-train-x7k2p",
			}
			subst := func(s string) string {
				return workflowVar.ReplaceAllStringFunc(s, func(m string) string {
					v, ok := vars[workflowVar.FindStringSubmatch(m)[2]]
					if !ok {
						t.Fatalf("unknown Argo variable %s", m)
					}
					return v
				})
			}
			env := isolatedEnv(t)
			env = append(env, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
			for _, e := range c.Env {
				env = append(env, e.Name+"="+subst(e.Value))
			}
			var args []string
			for _, a := range c.Args {
				args = append(args, subst(a))
			}
			// Writable places instead of the pod's volumes.
			tmp := t.TempDir()
			args = append(args, "--cache-dir="+tmp, "--result-file="+filepath.Join(tmp, "result.json"))
			code, out := run(t, env, trainer, args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) {
				t.Fatalf("training template with params %q: exit %d, want %d with %q:\n%s", tt.params, code, tt.wantCode, tt.wantOut, out)
			}
		})
	}
}
