// Command escape tries the classic chroot escape from inside a machine and
// reports whether the host path given as its argument became reachable. The
// machine tests build it statically and run it as a build command would.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	if err := os.MkdirAll("/escape-sub", 0o755); err != nil {
		fmt.Println("mkdir:", err)
		os.Exit(2)
	}
	// chroot into a subdirectory without entering it: the working directory
	// is now outside the root, and ".." walks past the old one.
	if err := syscall.Chroot("/escape-sub"); err != nil {
		fmt.Println("chroot refused:", err)
		return
	}
	for range 64 {
		if err := syscall.Chdir(".."); err != nil {
			fmt.Println("chdir ..:", err)
			os.Exit(2)
		}
	}
	if err := syscall.Chroot("."); err != nil {
		fmt.Println("second chroot refused:", err)
		return
	}
	if _, err := os.Stat(os.Args[1]); err == nil {
		fmt.Println("ESCAPED: host file", os.Args[1], "is reachable")
		return
	}
	fmt.Println("contained")
}
