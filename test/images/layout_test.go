package images

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Media types of the OCI image spec that the layouts use.
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
)

// descriptor is an OCI content descriptor.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform,omitempty"`
}

// index is an image's multi-platform index in an OCI layout.
type index struct {
	dir       string
	digest    string
	Manifests []descriptor `json:"manifests"`
}

// image is one platform's manifest with its config.
type image struct {
	dir    string
	Layers []descriptor `json:"layers"`
	Config descriptor   `json:"config"`
	config struct {
		Config struct {
			User       string   `json:"User"`
			Env        []string `json:"Env"`
			Entrypoint []string `json:"Entrypoint"`
			WorkingDir string   `json:"WorkingDir"`
		} `json:"config"`
	}
}

// openLayout reads the OCI layout in dir, which must list one image index
// (ko's output for a multi-platform build).
func openLayout(dir string) (*index, error) {
	var top index
	if err := readJSON(filepath.Join(dir, "index.json"), &top); err != nil {
		return nil, err
	}
	var idx []descriptor
	for _, d := range top.Manifests {
		if d.MediaType == mediaIndex {
			idx = append(idx, d)
		}
	}
	if len(idx) != 1 {
		return nil, fmt.Errorf("%s/index.json: want one image index, found %d among %d manifests", dir, len(idx), len(top.Manifests))
	}
	out := &index{dir: dir, digest: idx[0].Digest}
	if err := readJSON(blobPath(dir, idx[0].Digest), out); err != nil {
		return nil, err
	}
	return out, nil
}

// platforms lists the index's image platforms as OS/ARCH, sorted.
func (x *index) platforms() ([]string, error) {
	var out []string
	for _, m := range x.Manifests {
		if m.MediaType != mediaManifest || m.Platform == nil {
			continue
		}
		out = append(out, m.Platform.OS+"/"+m.Platform.Architecture)
	}
	sort.Strings(out)
	return out, nil
}

// image reads the manifest and config of platform (OS/ARCH).
func (x *index) image(platform string) (*image, error) {
	for _, m := range x.Manifests {
		if m.Platform == nil || m.Platform.OS+"/"+m.Platform.Architecture != platform {
			continue
		}
		img := &image{dir: x.dir}
		if err := readJSON(blobPath(x.dir, m.Digest), img); err != nil {
			return nil, err
		}
		if err := readJSON(blobPath(x.dir, img.Config.Digest), &img.config); err != nil {
			return nil, err
		}
		return img, nil
	}
	return nil, fmt.Errorf("%s: no image for %s", x.dir, platform)
}

// unpack extracts the layers, base first, into rootfs with GNU tar (which
// keeps every entry inside the target directory). The layers hold no
// whiteouts: ko only adds files.
func (img *image) unpack(rootfs string) error {
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return fmt.Errorf("create rootfs: %w", err)
	}
	for _, l := range img.Layers {
		flag := "-xf"
		if strings.HasSuffix(l.MediaType, "+gzip") || strings.HasSuffix(l.MediaType, ".gzip") {
			flag = "-xzf"
		}
		cmd := exec.Command("tar", "--same-owner", "--numeric-owner", "-C", rootfs, flag, blobPath(img.dir, l.Digest))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("unpack layer %s: %w: %s", l.Digest, err, out)
		}
	}
	return nil
}

// blobPath is the file of digest (sha256:HEX) in the layout at dir.
func blobPath(dir, digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", alg, hex)
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %w", err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}
