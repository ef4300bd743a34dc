module keel/tools/ts2019_vectors

go 1.26.0

require (
	golang.org/x/crypto v0.59.0
	tailscale.com v1.62.1
)

require (
	github.com/klauspost/compress v1.17.4 // indirect
	go4.org/mem v0.0.0-20220726221520-4f986261bf13 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
