module github.com/ppa-autoscaler/ppa/plugins/sdk

go 1.26.0

require github.com/ppa-autoscaler/ppa/abi v0.0.0-00010101000000-000000000000

// The ABI module is developed beside this one; a plugin's own go.mod points
// both at a release (or at a checkout of this repository) itself, since a
// replace applies only in the main module.
replace github.com/ppa-autoscaler/ppa/abi => ../../abi
