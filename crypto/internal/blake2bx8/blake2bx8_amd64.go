//go:build amd64 && !purego

package blake2bx8

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

var useAVX512 = cpu.X86.HasAVX512F

//go:noescape
func blocks8(h *state, ptrs *[Lanes]unsafe.Pointer, off uintptr, n int, t uint64, f uint64)
