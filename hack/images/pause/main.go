// Command pause is the first process of every pod sandbox: it holds the pod's namespaces open and otherwise
// sleeps. containerd starts one per pod from the sandbox image (localhost/rollboot/pause, built by hack/images).
//
// As PID 1 of the pod's PID namespace it is also the reaper of last resort: a process whose parent exits is
// handed to it, and once that process exits too its zombie stays until PID 1 collects it. So every SIGCHLD
// drains all exited children. SIGINT or SIGTERM (what a runtime sends to stop the sandbox) ends it with 0.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: pause (takes no arguments; stops on SIGINT or SIGTERM)")
		os.Exit(2)
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "pause: not PID 1 of its namespace, so orphans of the pod will not be handed to it")
	}
	// Buffered: signals of one kind that arrive while a drain runs collapse into one, and the drain that follows
	// collects every child that exited meanwhile.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	// From here on SIGTERM ends it with 0. Before, the runtime's default applies: as PID 1 the kernel drops the
	// default action, and Go exits with 2. Saying so lets a test (and a curious admin) know when it is listening.
	fmt.Fprintln(os.Stderr, "pause: ready")
	for received := range signals {
		if received == syscall.SIGCHLD {
			reapExited()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: %v, exiting\n", received)
		os.Exit(0)
	}
}

// reapExited collects every child that has exited, without blocking on those still running.
func reapExited() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil || pid <= 0:
			// ECHILD: no children at all; 0: some left, none of them exited.
			return
		}
	}
}
