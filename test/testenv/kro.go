package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// KroVersion is the kro release that test/scripts/install-kro.sh builds;
// keep it in step with the script's default.
const KroVersion = "v0.9.4"

// kroHint ends every failure to find kro's build.
const kroHint = "run `make deps` (test/scripts/install-kro.sh builds kro " + KroVersion + " from the Go module proxy)"

// KroController is the kro controller (github.com/kubernetes-sigs/kro,
// cmd/controller) started for one test.
type KroController struct {
	proc *process
}

// kroBinary is install-kro.sh's versioned binary, kro-VERSION, in BinDir.
func kroBinary() (string, error) {
	p := filepath.Join(BinDir(), "kro-"+KroVersion)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("no kro controller at %s: %s", p, kroHint)
	}
	return p, nil
}

// KroCRDs returns the folder of kro's own CRDs (ResourceGraphDefinition,
// GraphRevision) that install-kro.sh copies from the kro module beside the
// binary, for an API server to install before Kro starts. It fails the test
// when they or the binary are missing.
func KroCRDs(t testing.TB) string {
	t.Helper()
	if _, err := kroBinary(); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	dir := filepath.Join(BinDir(), "kro-"+KroVersion+"-crds")
	if _, err := os.Stat(filepath.Join(dir, "kro.run_resourcegraphdefinitions.yaml")); err != nil {
		t.Fatalf("testenv: kro CRDs: %v: %s", err, kroHint)
	}
	return dir
}

// Kro starts the kro controller against the API server that kubeconfig
// points at (its user needs to create CRDs and every kind the graphs
// make), with leader election off, metrics off and its health probe on a
// free loopback port, and waits until the probe answers. It is stopped and
// reaped when the test ends; its log is printed when the test failed.
func Kro(t testing.TB, kubeconfig string) *KroController {
	t.Helper()
	bin, err := kroBinary()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	k := &KroController{}
	t.Cleanup(func() {
		if k.proc == nil {
			return
		}
		if t.Failed() {
			t.Logf("kro log (tail):\n%s", tail(k.proc.log.String()))
		}
		k.proc.stop(stopTimeout)
	})
	for attempt := 0; attempt < 3; attempt++ {
		probe := "127.0.0.1:" + strconv.Itoa(FreePort(t))
		args := []string{
			"--metrics-bind-address=0",
			"--health-probe-bind-address=" + probe,
			"--leader-elect=false",
			// A short requeue: instances wait for their children less.
			"--instance-requeue-interval=1s",
			"--rgd-progress-requeue-delay=1s",
		}
		var p *process
		p, err = startProcess("kro", bin, args, []string{"KUBECONFIG=" + kubeconfig}, []string{"KUBECONFIG="}, t.TempDir())
		if err != nil {
			break
		}
		if err = waitReady(p, "http://"+probe+"/healthz"); err != nil {
			p.stop(0)
			if errors.Is(err, errPortInUse) {
				continue
			}
			break
		}
		k.proc = p
		break
	}
	if err != nil {
		t.Fatalf("testenv: kro: %v", err)
	}
	return k
}
