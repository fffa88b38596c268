package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Versions of the envtest servers that test/scripts/install-envtest.sh
// builds; keep them in step with the script's defaults.
const (
	EnvtestKubeVersion = "v1.34.3"
	EnvtestEtcdVersion = "v3.6.16"
)

// EnvtestAssets returns the folder holding kube-apiserver and etcd for
// sigs.k8s.io/controller-runtime/pkg/envtest: $KUBEBUILDER_ASSETS, else
// where install-envtest.sh puts them under BinDir. The error names the
// script to run when they are missing.
func EnvtestAssets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(BinDir(), "envtest", EnvtestKubeVersion+"-etcd-"+EnvtestEtcdVersion)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("envtest assets: no executable %s in %s: run test/scripts/install-envtest.sh "+
				"(builds kube-apiserver %s and etcd %s from the Go module proxy, about 10 minutes the first time) "+
				"or point KUBEBUILDER_ASSETS at a folder holding both", name, dir, EnvtestKubeVersion, EnvtestEtcdVersion)
		}
	}
	return dir, nil
}

// StartEnvtest starts te's etcd and kube-apiserver (from EnvtestAssets
// when te names no assets; a missing CRD folder is an error), stops them
// when the test ends, and returns the REST config and kubeconfig file of an
// admin user (system:masters) named user. Configure te first: CRD folders,
// apiserver flags.
func StartEnvtest(t testing.TB, te *envtest.Environment, user string) (*rest.Config, string) {
	t.Helper()
	if te.BinaryAssetsDirectory == "" {
		assets, err := EnvtestAssets()
		if err != nil {
			t.Fatal(err)
		}
		te.BinaryAssetsDirectory = assets
	}
	te.ErrorIfCRDPathMissing = true
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("testenv: start kube-apiserver and etcd from %s: %v", te.BinaryAssetsDirectory, err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Logf("testenv: stop kube-apiserver and etcd: %v", err)
		}
	})
	admin, err := te.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatalf("testenv: envtest user %s: %v", user, err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatalf("testenv: kubeconfig of %s: %v", user, err)
	}
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		t.Fatalf("testenv: kubeconfig of %s: %v", user, err)
	}
	return admin.Config(), path
}
