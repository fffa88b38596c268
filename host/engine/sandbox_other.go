//go:build !linux

package engine

import (
	"errors"
	"os"
	"sync"
	"syscall"
)

const workerExe = ""

var processIsolationSupported = sync.OnceValue(func() error {
	return errors.New("worker processes are supported on Linux only")
})

func workerSysProcAttr() *syscall.SysProcAttr { return nil }
func limitWorker(workerInit) error            { return errors.New("worker processes are supported on Linux only") }
func lockDown() error                         { return errors.New("worker processes are supported on Linux only") }
func setCallCPU(uint64) error                 { return nil }

var cpuLimitSignal os.Signal = os.Interrupt

func lockThread() {}

func setNoFile() error { return nil }
