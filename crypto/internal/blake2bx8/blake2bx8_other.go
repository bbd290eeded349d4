//go:build !amd64 || purego

package blake2bx8

import "unsafe"

const useAVX512 = false

func blocks8(h *state, ptrs *[Lanes]unsafe.Pointer, off uintptr, n int, t uint64, f uint64) {
	panic("blake2bx8: no eight-lane implementation on this platform")
}
