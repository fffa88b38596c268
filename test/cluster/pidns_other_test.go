//go:build !linux

package cluster

// reexecInPIDNamespace is Linux-only; TestMain does not call it elsewhere.
func reexecInPIDNamespace() int { panic("PID namespaces are Linux-only") }
