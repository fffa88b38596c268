package testenv

import (
	"fmt"
	"os"
	"path/filepath"
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
