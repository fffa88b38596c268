// A plugin author's module: it requires the PPA plugin SDK and the ABI it
// implements, and nothing else. Outside this repository, drop the replace
// lines and require released versions of both modules instead.
module example.com/drift

go 1.26.0

require (
	github.com/ppa-autoscaler/ppa/abi v0.0.0-00010101000000-000000000000
	github.com/ppa-autoscaler/ppa/plugins/sdk v0.0.0-00010101000000-000000000000
)

replace (
	github.com/ppa-autoscaler/ppa/abi => ../../../abi
	github.com/ppa-autoscaler/ppa/plugins/sdk => ../../sdk
)
