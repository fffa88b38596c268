package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
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

// ImageIndex is an image's multi-platform index in an OCI layout.
type ImageIndex struct {
	dir string
	// Digest is the index's digest (what a registry would serve).
	Digest    string       `json:"-"`
	Manifests []descriptor `json:"manifests"`
}

// Image is one platform's manifest with its config.
type Image struct {
	dir        string
	Layers     []descriptor `json:"layers"`
	ConfigDesc descriptor   `json:"config"`
	// Config is the image's configuration (user, environment, entrypoint).
	Config ImageConfig
}

// ImageConfig is the part of an image configuration tests read.
type ImageConfig struct {
	Config struct {
		User       string   `json:"User"`
		Env        []string `json:"Env"`
		Entrypoint []string `json:"Entrypoint"`
		WorkingDir string   `json:"WorkingDir"`
	} `json:"config"`
}

// OpenImageLayout reads the OCI layout in dir, which must list one image index
// (ko's output for a multi-platform build).
func OpenImageLayout(dir string) (*ImageIndex, error) {
	var top ImageIndex
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
	out := &ImageIndex{dir: dir, Digest: idx[0].Digest}
	if err := readJSON(blobPath(dir, idx[0].Digest), out); err != nil {
		return nil, err
	}
	return out, nil
}

// Platforms lists the index's image platforms as OS/ARCH, sorted.
func (x *ImageIndex) Platforms() ([]string, error) {
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

// Image reads the manifest and config of platform (OS/ARCH).
func (x *ImageIndex) Image(platform string) (*Image, error) {
	for _, m := range x.Manifests {
		if m.Platform == nil || m.Platform.OS+"/"+m.Platform.Architecture != platform {
			continue
		}
		img := &Image{dir: x.dir}
		if err := readJSON(blobPath(x.dir, m.Digest), img); err != nil {
			return nil, err
		}
		if err := readJSON(blobPath(x.dir, img.ConfigDesc.Digest), &img.Config); err != nil {
			return nil, err
		}
		return img, nil
	}
	return nil, fmt.Errorf("%s: no image for %s", x.dir, platform)
}

// Unpack extracts the layers, base first, into rootfs with GNU tar (which
// keeps every entry inside the target directory). The layers hold no
// whiteouts: ko only adds files.
func (img *Image) Unpack(rootfs string) error {
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

// BuildImages runs hack/images.sh in the checkout at root (a no-op when
// its inputs are unchanged; ko and crane come from make deps) and returns
// the folder of the image layouts, $PPA_IMAGES_DIR or root/_out/images,
// with the script's last line of output.
func BuildImages(root string) (dir, summary string, err error) {
	dir = os.Getenv("PPA_IMAGES_DIR")
	if dir == "" {
		dir = filepath.Join(root, "_out", "images")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "images.sh"), "--out", dir)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if _, err := cmd.Output(); err != nil {
		return "", "", fmt.Errorf("hack/images.sh: %w\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	return dir, lines[len(lines)-1], nil
}
