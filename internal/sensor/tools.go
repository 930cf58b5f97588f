//go:build tools

package sensor

// bpf2go runs from gen.go; importing it here keeps its module requirements
// in go.mod and go.sum through `go mod tidy`.
import _ "github.com/cilium/ebpf/cmd/bpf2go"
