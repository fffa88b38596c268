# lib.sh: helpers the installers share for building Go programs from the
# module proxy. Source it after defining die (used for errors).

# module_dir MODULE VERSION prints the folder of MODULE@VERSION in the
# module cache, downloading it first when needed.
module_dir() {
	local dir
	dir=$(go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir && -d $dir ]] || die "cannot download $1@$2"
	printf '%s\n' "$dir"
}

# module_source MODULE VERSION DEST copies MODULE@VERSION's source to DEST,
# writable, to build it inside its own module (its go.mod and replaces
# apply, which `go install module@version` refuses).
module_source() {
	local src
	src=$(module_dir "$1" "$2") || exit 1
	cp -r "$src" "$3" && chmod -R u+w "$3" || die "cannot copy $1@$2 to $3"
}

# kube_staging_replaces KUBE_VERSION prints a replace line for each of
# k8s.io/kubernetes's staging modules (its go.mod replaces them with local
# folders), pinned to their published v0.MINOR.PATCH: what a helper module
# that builds a Kubernetes command needs.
kube_staging_replaces() {
	local gomod staging_version
	gomod=$(go mod download -json "k8s.io/kubernetes@$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
	[[ -f $gomod ]] || die "cannot download k8s.io/kubernetes@$1"
	staging_version=v0.${1#v1.}
	# Lines such as "k8s.io/api => ./staging/src/k8s.io/api" inside
	# "replace ( ... )"; sample modules are not published.
	awk '/^replace \($/ { inblock = 1; next } inblock && /^\)/ { inblock = 0 } inblock && $2 == "=>" { print $1 }' "$gomod" |
		grep -v -e '^k8s.io/sample-cli-plugin$' -e '^k8s.io/sample-controller$' |
		while read -r m; do printf 'replace %s => %s %s\n' "$m" "$m" "$staging_version"; done
}

# kube_ldflags KUBE_VERSION prints the -ldflags of upstream's release build
# (version stamped, symbols stripped).
kube_ldflags() {
	local pkg=k8s.io/component-base/version
	printf '%s' "-s -w -X $pkg.gitVersion=$1 -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$1" | cut -d. -f2)"
	printf '%s' " -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
}
