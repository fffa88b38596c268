// Package images (Linux only: runc) smoke-tests the container images `make images` builds
// (hack/images.sh): each image's root file system is unpacked from its OCI
// layout with GNU tar and its binary is run under runc, as the image's user,
// with a read-only root file system and no network, and must answer; the
// trainer image also trains a model into a store on a volume, as a
// training pod does. The tests run hack/images.sh first; its input hash
// makes a warm run cheap.
//
// Needs ko, crane and runc (`make deps`: test/scripts/install-imagetools.sh)
// and root (runc without a rootless setup).
package images
