module github.com/ppa-autoscaler/ppa/abi

go 1.26.0
