package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// Container is a container of a pod (or pod template) that the harness
// runs as a local process, as a kubelet would run it: its command and
// arguments, its environment resolved from Secrets, ConfigMaps and the
// pod's fields, its volumes as local directories (emptyDir, Secret and
// ConfigMap volumes; paths in arguments and environment under a mount
// point are rewritten to the local directory), and the credentials of its
// ServiceAccount (a token from the TokenRequest API in a kubeconfig named
// by $KUBECONFIG, where client-go looks outside a cluster).
type Container struct {
	Namespace      string
	PodName        string
	ServiceAccount string
	Volumes        []corev1.Volume
	Container      corev1.Container
}

// argoexecSeparator ends argoexec's own arguments in an Argo pod's main
// container command ("argoexec emissary ... -- CMD").
const argoexecSeparator = "--"

// command is the program and arguments the container runs, without Argo's
// emissary wrapper.
func (s Container) command() []string {
	cmd := slices.Clone(s.Container.Command)
	if len(cmd) > 0 && filepath.Base(cmd[0]) == "argoexec" {
		if i := slices.Index(cmd, argoexecSeparator); i >= 0 {
			cmd = cmd[i+1:]
		}
	}
	return append(cmd, s.Container.Args...)
}

// Process is a container running as a local process.
type Process struct {
	*testenv.Child
	mounts mountTable
}

// LocalPath is where path inside the container is on this machine.
func (p *Process) LocalPath(path string) string { return p.mounts.rewrite(path) }

// Run starts the container as a local process named name, with extra
// arguments appended (later flags win: ports and listen addresses on
// loopback). The process is reaped when the test ends.
func (c *Cluster) Run(name string, s Container, extra ...string) (*Process, error) {
	ctx := context.Background()
	argv := s.command()
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %s of %s/%s: no command (the image's entrypoint is not known here)", s.Container.Name, s.Namespace, s.PodName)
	}
	bin, ok := c.Binaries[filepath.Base(argv[0])]
	if !ok {
		return nil, fmt.Errorf("container %s of %s/%s: command %q: no local program for it", s.Container.Name, s.Namespace, s.PodName, argv[0])
	}
	root, err := os.MkdirTemp(c.tmp, "pod-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	mounts, err := c.mountVolumes(ctx, root, s)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	env, err := c.containerEnv(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	if s.ServiceAccount != "" {
		kc, err := c.serviceAccountKubeconfig(ctx, root, s.Namespace, s.ServiceAccount)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", name, err)
		}
		env = append(env, "KUBECONFIG="+kc)
	}
	args := make([]string, 0, len(argv)-1+len(extra))
	for _, a := range argv[1:] {
		args = append(args, mounts.rewrite(a))
	}
	for i, kv := range env {
		env[i] = mounts.rewrite(kv)
	}
	args = append(args, extra...)
	ch := testenv.Start(c.t, name, bin, root, args, env)
	return &Process{Child: ch, mounts: mounts}, nil
}

// mountTable maps mount paths to local directories, longest first.
type mountTable [][2]string

func (m mountTable) rewrite(s string) string {
	for _, p := range m {
		if i := strings.Index(s, p[0]); i >= 0 {
			rest := s[i+len(p[0]):]
			if rest == "" || rest[0] == '/' {
				return s[:i] + p[1] + rest
			}
		}
	}
	return s
}

// mountVolumes makes a local directory for each of the container's
// mounts under root and fills Secret and ConfigMap volumes.
func (c *Cluster) mountVolumes(ctx context.Context, root string, s Container) (mountTable, error) {
	var m mountTable
	for _, vm := range s.Container.VolumeMounts {
		i := slices.IndexFunc(s.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			return nil, fmt.Errorf("volume mount %s: no volume of that name", vm.Name)
		}
		v := s.Volumes[i]
		dir := filepath.Join(root, "volumes", vm.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		var data map[string][]byte
		var items []corev1.KeyToPath
		switch {
		case v.EmptyDir != nil:
		case v.Secret != nil:
			var sec corev1.Secret
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: v.Secret.SecretName}, &sec); err != nil {
				if ptr.Deref(v.Secret.Optional, false) {
					break
				}
				return nil, fmt.Errorf("volume %s: secret %s: %w", v.Name, v.Secret.SecretName, err)
			}
			data, items = sec.Data, v.Secret.Items
		case v.ConfigMap != nil:
			var cm corev1.ConfigMap
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: v.ConfigMap.Name}, &cm); err != nil {
				return nil, fmt.Errorf("volume %s: configmap %s: %w", v.Name, v.ConfigMap.Name, err)
			}
			data, items = map[string][]byte{}, v.ConfigMap.Items
			for k, val := range cm.Data {
				data[k] = []byte(val)
			}
		default:
			return nil, fmt.Errorf("volume %s: only emptyDir, secret and configMap volumes are emulated", v.Name)
		}
		if len(items) == 0 {
			for k := range data {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			b, ok := data[it.Key]
			if !ok {
				return nil, fmt.Errorf("volume %s: no key %s", v.Name, it.Key)
			}
			p := filepath.Join(dir, it.Path)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
		src := dir
		if vm.SubPath != "" {
			src = filepath.Join(dir, vm.SubPath)
		}
		m = append(m, [2]string{vm.MountPath, src})
	}
	sort.Slice(m, func(i, j int) bool { return len(m[i][0]) > len(m[j][0]) })
	return m, nil
}

// containerEnv resolves the container's env and envFrom as the kubelet
// does (envFrom first, env after, later wins).
func (c *Cluster) containerEnv(ctx context.Context, s Container) ([]string, error) {
	var env []string
	secret := func(name string) (*corev1.Secret, error) {
		var sec corev1.Secret
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, &sec); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", s.Namespace, name, err)
		}
		return &sec, nil
	}
	configMap := func(name string) (*corev1.ConfigMap, error) {
		var cm corev1.ConfigMap
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, &cm); err != nil {
			return nil, fmt.Errorf("configmap %s/%s: %w", s.Namespace, name, err)
		}
		return &cm, nil
	}
	for _, ef := range s.Container.EnvFrom {
		switch {
		case ef.SecretRef != nil:
			sec, err := secret(ef.SecretRef.Name)
			if err != nil {
				if ptr.Deref(ef.SecretRef.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("envFrom: %w", err)
			}
			for k, v := range sec.Data {
				env = append(env, ef.Prefix+k+"="+string(v))
			}
		case ef.ConfigMapRef != nil:
			cm, err := configMap(ef.ConfigMapRef.Name)
			if err != nil {
				if ptr.Deref(ef.ConfigMapRef.Optional, false) {
					continue
				}
				return nil, fmt.Errorf("envFrom: %w", err)
			}
			for k, v := range cm.Data {
				env = append(env, ef.Prefix+k+"="+v)
			}
		}
	}
	for _, e := range s.Container.Env {
		v := e.Value
		if f := e.ValueFrom; f != nil {
			switch {
			case f.SecretKeyRef != nil:
				sec, err := secret(f.SecretKeyRef.Name)
				if err != nil {
					if ptr.Deref(f.SecretKeyRef.Optional, false) {
						continue
					}
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				v = string(sec.Data[f.SecretKeyRef.Key])
			case f.ConfigMapKeyRef != nil:
				cm, err := configMap(f.ConfigMapKeyRef.Name)
				if err != nil {
					return nil, fmt.Errorf("env %s: %w", e.Name, err)
				}
				v = cm.Data[f.ConfigMapKeyRef.Key]
			case f.FieldRef != nil:
				switch f.FieldRef.FieldPath {
				case "metadata.namespace":
					v = s.Namespace
				case "metadata.name":
					v = s.PodName
				case "spec.serviceAccountName":
					v = s.ServiceAccount
				case "status.podIP", "status.hostIP":
					v = "127.0.0.1"
				case "spec.nodeName":
					v = kwokNode
				default:
					return nil, fmt.Errorf("env %s: field %s is not emulated", e.Name, f.FieldRef.FieldPath)
				}
			case f.ResourceFieldRef != nil:
				return nil, fmt.Errorf("env %s: resource fields are not emulated", e.Name)
			}
		}
		env = append(env, e.Name+"="+v)
	}
	return env, nil
}

// serviceAccountKubeconfig writes a kubeconfig under dir authenticating as
// namespace/name with a bound token from the TokenRequest API.
func (c *Cluster) serviceAccountKubeconfig(ctx context.Context, dir, namespace, name string) (string, error) {
	tr, err := c.Kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of serviceaccount %s/%s: %w", namespace, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cluster"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: c.Config.CAData}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "sa", Namespace: namespace}
	cfg.CurrentContext = "sa"
	p := filepath.Join(dir, "serviceaccount.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		return "", fmt.Errorf("kubeconfig of serviceaccount %s/%s: %w", namespace, name, err)
	}
	return p, nil
}
