module github.com/pcache/pcache/bench/yardstick

go 1.26.0

require (
	github.com/fxamacker/cbor/v2 v2.10.0
	github.com/pcache/pcache v0.0.0
	github.com/zeebo/blake3 v0.2.4
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/gofrs/flock v0.13.2 // indirect
	github.com/klauspost/compress v1.20.5 // indirect
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/pcache/pcache => ../..
